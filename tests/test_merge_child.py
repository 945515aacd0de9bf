"""Merge in a child process, disk stated first, artifacts to download; one GPU per training child."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.urls import reverse

from gsctune.jobs import JobCancelled, JobState, Progress, execute_job
from tests.fixtures_training import llama_cpp_dir
from training import merge, services
from training.entry import pin_device
from training.models import AdapterMerge, TrainingRun
from training.tiny import build_tiny_model, train_tokenizer

SYSTEM = "You turn hunks into commits, one tool call at a time."


# --------------------------------------------------------------------------- one GPU per child


def test_entry_pins_one_device_before_torch_starts():
    assert pin_device(env := {}) == "0" and env["CUDA_VISIBLE_DEVICES"] == "0"
    assert pin_device({"CUDA_VISIBLE_DEVICES": "2,3"}) == "2"
    assert pin_device({"CUDA_VISIBLE_DEVICES": ""}) == ""  # "no GPU" stays no GPU
    assert pin_device({"GSCTUNE_TRAIN_GPUS": "5,6"}) == "5"


def test_device_pool_lends_each_gpu_to_one_run_at_a_time():
    pool = services.DevicePool(["0", "1"])
    got, released = [], threading.Event()

    def hold():
        with pool.claim() as device:
            got.append(device)
            released.wait(5)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    while len(got) < 2:
        time.sleep(0.01)
    assert sorted(got) == ["0", "1"]
    third: list[str] = []
    waiter = threading.Thread(target=lambda: third.append(pool.claim(poll_s=0.01).__enter__()))
    waiter.start()
    time.sleep(0.1)
    assert third == []  # both busy: the third run waits
    released.set()
    waiter.join(5)
    assert third and third[0] in ("0", "1")


def test_waiting_run_can_be_cancelled(db, tmp_path):
    run = TrainingRun.objects.create(base_model="m", data_dir=str(tmp_path), cancel_requested=True)
    pool = services.DevicePool(["0"])
    pool.busy.add("0")
    with pytest.raises(JobCancelled):
        with pool.claim(Progress(run, min_interval=0), poll_s=0.01):
            pass


def test_devices_come_from_the_setting_then_the_inherited_list(settings):
    settings.TRAIN_GPUS = ["2", "3"]
    assert services.train_devices({"CUDA_VISIBLE_DEVICES": "7"}) == ["2", "3"]
    settings.TRAIN_GPUS = []
    assert services.train_devices({"CUDA_VISIBLE_DEVICES": "4,5"}) == ["4", "5"]
    assert services.train_devices({}) == (["0"] if services.nvidia_present() else [])  # a CPU host: no pinning


def test_child_sees_only_its_device_and_a_killed_child_is_an_error(db, tmp_path):
    run = TrainingRun.objects.create(base_model="m", data_dir=str(tmp_path))
    progress = Progress(run, min_interval=0)
    seen = []
    services.run_child(["-c", "import os; print('DEV=' + os.environ['CUDA_VISIBLE_DEVICES'])"], tmp_path / "a.log",
                       progress, lambda line: seen.append(line) or False, services.child_env("1"))
    assert seen == ["DEV=1"]
    # An out-of-memory kill ends the child only; the caller gets the reason and goes on.
    with pytest.raises(services.TrainingError, match="killed by signal 9 .out of memory"):
        services.run_child(["-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], tmp_path / "b.log",
                           progress, lambda line: False, services.child_env(""))


# --------------------------------------------------------------------------- disk


def test_disk_plan_for_the_30b_model():
    size = 61_064_000_000  # Qwen3-Coder-30B-A3B-Instruct's bf16 safetensors (total_size of its index)
    q8 = merge.disk_plan(size, "Q8_0")
    assert "quantized" not in q8 and round(sum(q8.values()) / 1e9) == 94  # converter writes Q8_0 directly
    q4 = merge.disk_plan(size, "Q4_K_M")
    assert round(sum(q4.values()) / 1e9) == 141  # merged + bf16 GGUF + Q4_K_M
    assert round(sum(merge.disk_plan(size, None).values()) / 1e9) == 122


def test_merge_refuses_to_start_without_the_disk(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    with open(base / "model.safetensors", "wb") as fh:
        fh.truncate(shutil.disk_usage(tmp_path).free + 1)  # sparse: takes no space, needs more than is free
    with pytest.raises(RuntimeError, match=r"Not enough disk for the merge: disk needed: about \d+"):
        merge.check_disk(tmp_path, str(base), "Q8_0")


# --------------------------------------------------------------------------- the whole merge


@pytest.fixture(scope="module")
def adapter_run_files(tmp_path_factory):
    """A tiny base model, a LoRA adapter on it (untrained, saved by PEFT) and training data with a system prompt."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("merge")
    base = build_tiny_model(root / "base", tokenizer=train_tokenizer([SYSTEM, "feat: add"], vocab_size=400))
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    out = root / "run"
    model.save_pretrained(out / "adapter")
    data = root / "data"
    data.mkdir()
    row = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "u"},
                        {"role": "assistant", "content": "a"}]}
    (data / "train.jsonl").write_text(json.dumps(row) + "\n")
    return base, out, data


@pytest.mark.slow
def test_merge_runs_in_a_child_and_the_page_lists_each_message_once(transactional_db, adapter_run_files, staff_client,
                                                                    settings):
    base, out, data = adapter_run_files
    llama = llama_cpp_dir()
    settings.LLAMA_CPP_DIR = str(llama) if llama else "/nonexistent"
    run = TrainingRun.objects.create(base_model=str(base), data_dir=str(data), output_dir=str(out),
                                     state=JobState.SUCCEEDED)
    job = AdapterMerge.objects.create(run=run, quant="Q8_0")
    job = execute_job(job.job_label, job.pk)
    assert job.state == JobState.SUCCEEDED, job.error
    log = job.result["log"]
    assert log[0].startswith("disk needed: about ") and "free in" in log[0]
    assert Path(job.result["merged_dir"], "config.json").exists()
    assert "GSCTUNE_MERGE_RESULT" in (Path(job.output_dir) / "merge.log").read_text()  # written by the child
    page = staff_client.get(reverse("training-detail", args=[run.pk])).content.decode()
    for line in log + job.result["missing"]:
        assert page.count(str(line)[:60]) == 1, line
    if llama is None:
        assert any("get_llama_cpp.sh" in m for m in job.result["missing"])
        return
    gguf = Path(job.result["gguf"])
    assert gguf.name == "model-Q8_0.gguf" and job.result["quantized"] == str(gguf)
    modelfile = Path(job.result["modelfile"]).read_text()
    assert modelfile.count(SYSTEM) == 1 and "FROM ./model-Q8_0.gguf" in modelfile
    for name in ("model-Q8_0.gguf", "Modelfile"):
        url = reverse("training-download", args=[run.pk, f"merge-{job.pk}/{name}"])
        assert url in page
        resp = staff_client.get(url)
        assert resp.status_code == 200 and b"".join(resp.streaming_content)[:4] in (b"GGUF", b"FROM")
    assert staff_client.get(reverse("training-download", args=[run.pk, f"merge-{job.pk}/merged/config.json"])
                            ).status_code == 404
    assert staff_client.get(reverse("training-download", args=[run.pk, f"merge-{job.pk + 1}/Modelfile"])
                            ).status_code == 404
