"""Training runs through the real path: launch page or command → Celery worker (gpu queue) → child process."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from gsctune.jobs import JobState
from labeling.models import SFTExport
from tests.conftest import wait_for
from tests.fixtures_training import llama_cpp_dir, quick_options, shared_tiny_setup, unsloth_missing
from training import services
from training.models import AdapterMerge, TrainingMetric, TrainingRun

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return shared_tiny_setup(tmp_path_factory.getbasetemp())


@pytest.fixture
def export_row(tiny):
    return SFTExport.objects.create(name="tiny", state=JobState.SUCCEEDED, folder=str(tiny["export"]),
                                    train_rows=28, val_rows=11)


def launch_post(tiny, export_row, **overrides) -> dict:
    data = {"name": "page run", "export": export_row.pk, "base_model": str(tiny["dense"]), "backend": "trl",
            "precision": "bf16", "lora_dropout": 0.0, "target_modules": "q_proj k_proj v_proj o_proj gate_proj up_proj "
            "down_proj", "train_experts": "on", "epochs": 1, "warmup_ratio": 0.1, "scheduler": "cosine",
            "assistant_only_loss": "on", "seed": 1, "gpu": "H100 80GB", "gpu_price_per_hour": "2.50"}
    data.update(quick_options(**overrides))
    return data


def check_adapter(run: TrainingRun, base: Path) -> None:
    """The adapter changed in training, reloads with PEFT, generates, and merges into a loadable model."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tensors = load_file(run.adapter_dir / "adapter_model.safetensors")
    assert sum(float(t.abs().sum()) for n, t in tensors.items() if "lora_B" in n) > 0  # B starts at zero
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), run.adapter_dir)
    tok = AutoTokenizer.from_pretrained(run.adapter_dir)
    prompt = tok.apply_chat_template([{"role": "user", "content": "Changed files:\na.py"}],
                                     add_generation_prompt=True, return_tensors="pt", return_dict=True)
    generated = model.generate(**prompt, max_new_tokens=6, do_sample=False)
    assert generated.shape[1] > prompt["input_ids"].shape[1]
    with torch.no_grad():
        adapter_logits = model(**prompt).logits
    merged = AutoModelForCausalLM.from_pretrained(
        services.merge_mod.merge_adapter(run.adapter_dir, Path(run.output_dir) / "merged"))
    with torch.no_grad():
        assert torch.allclose(merged(**prompt).logits, adapter_logits, atol=1e-4)


def finished(run: TrainingRun, timeout: float = 240) -> TrainingRun:
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_final, timeout=timeout, interval=0.5,
             message=f"{run} to finish")
    return TrainingRun.objects.get(pk=run.pk)


@pytest.mark.worker
def test_runs_on_the_worker_fail_cleanly_succeed_and_cancel(live_worker, staff_client, tiny, export_row):
    # 1. A bad base model path: the run fails with a clear error and the log tail, the worker stays up.
    bad = services.launch_run(base_model="/no/such/model", export=export_row, backend="trl", **quick_options())
    bad = finished(bad)
    assert bad.state == JobState.FAILED, bad.error
    assert "Base model folder not found: /no/such/model" in bad.error
    assert "GSCTUNE_ERROR" in bad.log_tail

    # 2. Launched from the page by staff: estimate first, then the launch; the same worker runs it,
    #    alongside a tiny MoE run launched by the service.
    moe = services.launch_run(base_model=str(tiny["moe"]), export=export_row, backend="trl", **quick_options())
    page = staff_client.post(reverse("training-launch"), launch_post(tiny, export_row) | {"estimate": "1"})
    assert page.status_code == 200 and b"estimate-total" in page.content
    response = staff_client.post(reverse("training-launch"), launch_post(tiny, export_row) | {"launch": "1"})
    run = TrainingRun.objects.latest("pk")
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.export_id == export_row.pk and run.estimate["total_gb"] > 0
    run = finished(run)
    assert run.state == JobState.SUCCEEDED, run.error + run.log_tail
    train = list(run.metrics.filter(kind="train").order_by("step"))
    assert [m.step for m in train] == [1, 2, 3] and all(m.loss > 0 for m in train)
    assert run.metrics.filter(kind="eval", eval_loss__isnull=False).exists()
    assert run.has_adapter and run.final_loss and run.progress_done == 3 == run.progress_total
    detail = staff_client.get(run.get_absolute_url())
    assert detail.status_code == 200 and b"<polyline" in detail.content and b"cost so far" in detail.content
    download = staff_client.get(reverse("training-download", args=[run.pk, "adapter/adapter_config.json"]))
    assert json.loads(b"".join(download.streaming_content))["r"] == 8
    check_adapter(run, tiny["dense"])
    moe = finished(moe)
    assert moe.state == JobState.SUCCEEDED, moe.error + moe.log_tail
    assert [m.step for m in moe.metrics.filter(kind="train").order_by("step")] == [1, 2, 3]
    assert json.loads((moe.adapter_dir / "adapter_config.json").read_text())["target_parameters"]  # experts
    check_adapter(moe, tiny["moe"])

    # 3. Cancel a long run once it is training: the child is terminated and the run ends cancelled.
    long = services.launch_run(base_model=str(tiny["dense"]), export=export_row, backend="trl",
                               **quick_options(max_steps=100000, eval_steps=100000))
    wait_for(lambda: TrainingMetric.objects.filter(run=long).exists(), timeout=180, message="first step")
    assert staff_client.post(reverse("job-cancel", args=["training.trainingrun", long.pk])).status_code == 302
    long = finished(long, timeout=60)
    assert long.state == JobState.CANCELLED
    steps = TrainingMetric.objects.filter(run=long).count()
    assert "cancelled, training process terminated" in (Path(long.output_dir) / "train.log").read_text()
    assert TrainingMetric.objects.filter(run=long).count() == steps  # nothing trains any more
    assert not long.has_adapter


@pytest.mark.worker
def test_unsloth_backend_on_the_worker(live_worker, tiny, export_row):
    reason = unsloth_missing()
    if reason:
        pytest.skip(reason)
    runs = [services.launch_run(base_model=str(tiny[kind]), export=export_row, backend="unsloth", name=kind,
                                **quick_options()) for kind in ("dense", "moe")]
    for run in runs:
        run = finished(run)
        assert run.state == JobState.SUCCEEDED, run.error + run.log_tail
        assert run.metrics.filter(kind="train").count() == 3
        adapter = json.loads((run.adapter_dir / "adapter_config.json").read_text())
        if run.name == "moe":
            assert adapter["target_parameters"]  # the fused experts carry LoRA too
        check_adapter(run, tiny[run.name])


def test_train_command_in_the_foreground_then_merge_adapter(transactional_db, tiny, tmp_path, monkeypatch):
    out = io.StringIO()
    call_command("train", "--data-dir", str(tiny["export"]), "--base-model", str(tiny["dense"]), "--backend", "trl",
                 "--max-steps", "2", "--batch-size", "2", "--grad-accum", "1", "--max-length", "600",
                 "--lora-r", "8", "--optimizer", "adamw_torch", "--eval-steps", "2", stdout=out, stderr=io.StringIO())
    run = TrainingRun.objects.get()
    assert run.state == JobState.SUCCEEDED and f"Run {run.pk} succeeded" in out.getvalue()
    assert run.metrics.filter(kind="train").count() == 2 and run.export is None

    llama = llama_cpp_dir()
    if llama is None:
        monkeypatch.delenv("LLAMA_CPP_DIR", raising=False)
    else:
        monkeypatch.setenv("LLAMA_CPP_DIR", str(llama))
    out = io.StringIO()
    call_command("merge_adapter", str(run.pk), "--quant", "Q4_K_M", stdout=out, stderr=io.StringIO())
    job = AdapterMerge.objects.get(run=run)
    assert job.state == JobState.SUCCEEDED and Path(job.result["merged_dir"], "config.json").exists()
    if llama is None:
        assert "get_llama_cpp.sh" in out.getvalue() and job.result["gguf"] is None
    else:
        sys.path.insert(0, str(llama / "gguf-py"))
        try:
            from gguf import GGUFReader
        finally:
            sys.path.remove(str(llama / "gguf-py"))
        reader = GGUFReader(job.result["gguf"])  # the f16 file opens with llama.cpp's own reader
        arch = reader.fields["general.architecture"]
        assert bytes(arch.parts[arch.data[0]]).decode() == "qwen3" and len(reader.tensors) > 10
        modelfile = Path(job.result["modelfile"]).read_text()
        assert "PARAMETER temperature 0.2" in modelfile and "SYSTEM " in modelfile
        if shutil.which("llama-quantize") or (llama / "build" / "bin" / "llama-quantize").exists():
            assert Path(job.result["quantized"]).name == "model-Q4_K_M.gguf"
            assert "FROM ./model-Q4_K_M.gguf" in modelfile
        else:
            assert any("BUILD_QUANTIZE=1" in m for m in job.result["missing"])
        if not shutil.which("ollama"):
            assert any("ollama is not on PATH" in m for m in job.result["missing"]) or not job.ollama_name


def test_tiny_model_command(tmp_path):
    out = io.StringIO()
    call_command("tiny_model", "--out", str(tmp_path / "m"), "--moe", "--vocab-size", "400", stdout=out)
    assert "Tiny Qwen3-MoE saved" in out.getvalue()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert AutoModelForCausalLM.from_pretrained(tmp_path / "m").config.model_type == "qwen3_moe"
    assert AutoTokenizer.from_pretrained(tmp_path / "m").chat_template
