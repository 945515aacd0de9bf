"""The training launch form: sections, choices, presets, the estimate pane, refusals; the command's refusals;
the final loss of the run list and the run page."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from gsctune.jobs import JobState
from labeling.models import SFTExport
from training import services
from training.models import TrainingMetric, TrainingRun

pytestmark = pytest.mark.django_db

CODER = "Qwen/Qwen3-Coder-30B-A3B-Instruct"


def row(prompt_words: int, answer: str = '{"commits": []}') -> str:
    return json.dumps({"messages": [{"role": "system", "content": "Write commits."},
                                    {"role": "user", "content": "diff " * prompt_words},
                                    {"role": "assistant", "content": answer}]}) + "\n"


@pytest.fixture
def export(tmp_path):
    """Three train rows: prompts of about 30, 300 and 3,000 tokens by the character rule."""
    (tmp_path / "train.jsonl").write_text(row(20) + row(200) + row(2000))
    (tmp_path / "val.jsonl").write_text(row(20))
    return SFTExport.objects.create(state=JobState.SUCCEEDED, folder=str(tmp_path))


def settings(export, **kw) -> dict:
    data = {"export": export.pk, "base_model": CODER, "backend": "unsloth", "precision": "bf16", "lora_r": 32,
            "lora_alpha": 64, "lora_dropout": 0, "target_modules": "q_proj k_proj v_proj o_proj",
            "train_experts": "on", "learning_rate": 1.5e-4, "batch_size": 4, "grad_accum": 4, "epochs": 3,
            "max_steps": -1, "warmup_ratio": 0.1, "scheduler": "cosine", "max_length": 8192,
            "assistant_only_loss": "on", "optimizer": "adamw_8bit", "seed": 3407, "eval_steps": 0.1,
            "gpu": "H100 80GB", "gpu_price_per_hour": "2.50"}
    data.update(kw)
    return {k: v for k, v in data.items() if v is not None}


def test_form_has_sections_choices_presets_and_a_live_estimate(staff_client, export):
    from transformers.trainer_utils import SchedulerType

    body = staff_client.get(reverse("training-launch")).content.decode()
    legends = re.findall(r"<legend>(.*?)</legend>", body)
    assert legends == ["Data", "Base model and backend", "LoRA", "Optimization", "Hardware and cost"]
    schedulers = re.search(r'<select name="scheduler".*?</select>', body, re.S).group(0)
    assert re.findall(r'value="([^"]+)"', schedulers) == [s.value for s in SchedulerType]
    assert "adamw_8bit (needs bitsandbytes and a CUDA GPU)</option>" in body
    assert 'data-show-when="precision=bf16"' in body and 'data-show-when="gpu=custom"' in body
    assert 'hx-post="%s"' % reverse("training-launch-estimate") in body
    assert "change from:#launch-form delay:400ms" in body and "js/training.js" in body
    assert f'<option value="{export.pk}" selected>' in body  # the latest finished export
    presets = json.loads(re.search(r'<script id="launch-presets" type="application/json">(.*?)</script>',
                                   body, re.S).group(1))
    seed = presets[0]["values"]
    assert presets[0]["name"] == "Seed plan" and seed["base_model"] == CODER
    assert {k: seed[k] for k in ("lora_r", "lora_alpha", "learning_rate", "batch_size", "grad_accum", "epochs",
                                 "warmup_ratio", "scheduler", "max_length", "optimizer", "precision")} == {
        "lora_r": 32, "lora_alpha": 64, "learning_rate": 1.5e-4, "batch_size": 4, "grad_accum": 4, "epochs": 3.0,
        "warmup_ratio": 0.1, "scheduler": "cosine", "max_length": 8192, "optimizer": "adamw_8bit",
        "precision": "bf16"}
    assert seed["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert 'value="q_proj k_proj v_proj o_proj gate_proj up_proj down_proj"' in body  # the form starts there


def test_estimate_pane_reports_answers_cut_by_max_length(staff_client, export):
    pane = staff_client.post(reverse("training-launch-estimate"), settings(export, max_length=512))
    text = pane.content.decode()
    assert pane.status_code == 200 and "estimate-total" in text
    assert "1 of 3 train examples lose their answer at max length 512" in text
    assert "3.5 characters per token" in text  # no tokenizer for the preset here
    assert "Launch refused" not in text and not TrainingRun.objects.exists()


def test_launch_leaving_no_trainable_example_is_refused(staff_client, export):
    response = staff_client.post(reverse("training-launch"), settings(export, max_length=20, launch="1"))
    body = response.content.decode()
    assert response.status_code == 200 and not TrainingRun.objects.exists()
    assert "3 of 3 train examples lose their answer at max length 20: no train example would keep" in body
    assert 'href="#field-max_length"' in body  # the error summary names the field


@pytest.mark.parametrize("change, field, words", [
    ({"backend": "trl", "precision": "4bit"}, "precision", "PEFT&#x27;s k-bit preparation casts them to fp32"),
    ({"lora_dropout": 0.05}, "lora_dropout", "LoRA dropout must be 0 when LoRA also trains the MoE experts"),
    ({"gpu": "custom"}, "gpu_memory_gb", "Give the memory of the custom GPU."),
    ({"optimizer": "adam9"}, "optimizer", "Select a valid choice"),
])
def test_form_refuses_settings_the_worker_would_fail_on(staff_client, export, change, field, words):
    response = staff_client.post(reverse("training-launch"), settings(export, launch="1", **change))
    body = response.content.decode()
    assert words in body and f'href="#field-{field}"' in body
    assert not TrainingRun.objects.exists()


def test_trl_4bit_moe_estimate_does_not_fit_and_is_refused_in_the_pane(staff_client, export):
    text = staff_client.post(reverse("training-launch-estimate"),
                             settings(export, backend="trl", precision="4bit", gpu="H200 141GB")).content.decode()
    assert "Launch refused as set" in text and "does not fit" in text and ">fits in memory<" not in text


def test_good_settings_launch(staff_client, export):
    response = staff_client.post(reverse("training-launch"), settings(export, launch="1", max_length=4096))
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response.url == run.get_absolute_url()
    assert run.state == JobState.QUEUED and run.estimate["answer_loss"]["lost_all"] == 0


def test_train_command_refuses_the_same_settings(export, tmp_path):
    base = ["train", "--export", str(export.pk), "--base-model", CODER, "--queue"]
    with pytest.raises(CommandError, match="--precision: TRL \\+ 4-bit on an MoE model is refused"):
        call_command(*base, "--backend", "trl", "--precision", "4bit")
    with pytest.raises(CommandError, match="--lora-dropout: LoRA dropout must be 0"):
        call_command(*base, "--lora-dropout", "0.1")
    with pytest.raises(CommandError, match="--max-length: 3 of 3 train examples lose their answer at max length 20"):
        call_command(*base, "--max-length", "20")
    with pytest.raises(CommandError, match="--scheduler: Unknown scheduler 'cosnie'"):
        call_command(*base, "--scheduler", "cosnie")
    assert not TrainingRun.objects.exists()
    call_command(*base, "--max-length", "4096")
    assert TrainingRun.objects.get().state == JobState.QUEUED


def test_final_loss_is_the_same_in_the_list_and_on_the_run_page(staff_client, export):
    run = services.create_run(base_model="Qwen/Qwen3-8B", export=export, backend="trl", max_length=4096)
    for step, loss in enumerate([2.0, 1.5, 1.25], start=1):
        TrainingMetric.objects.create(run=run, kind="train", step=step, loss=loss)
    TrainingMetric.objects.create(run=run, kind="eval", step=3, eval_loss=1.4)
    TrainingRun.objects.filter(pk=run.pk).update(state=JobState.SUCCEEDED, final_loss=1.5833)  # trainer's mean
    listed = staff_client.get(reverse("training-list")).content.decode()
    page = staff_client.get(run.get_absolute_url()).content.decode()
    assert re.search(r'<td class="num">1\.2500</td>', listed)
    assert '<dd class="final-loss" title="loss of the last logged training step">1.2500</dd>' in page
    assert '<dd class="last-loss">1.2500</dd>' in page
    assert "mean train loss" in page and "1.5833" in page and "1.5833" not in listed


def test_answers_are_counted_with_the_exports_tokenizer_when_there_is_one(staff_client, export, tmp_path):
    from training.tiny import train_tokenizer

    tokenizer = train_tokenizer(["diff " * 50, "Write commits.", '{"commits": []}'], vocab_size=300)
    tokenizer.save_pretrained(tmp_path / "export-tokenizer")
    SFTExport.objects.filter(pk=export.pk).update(options={"tokenizer": str(tmp_path / "export-tokenizer")})
    shortest = len(tokenizer.apply_chat_template(
        json.loads(row(20))["messages"][:2], add_generation_prompt=True, return_dict=True)["input_ids"])
    text = staff_client.post(reverse("training-launch-estimate"), settings(export, max_length=shortest)
                             ).content.decode()
    assert "counted with the tokenizer export-tokenizer" in text
    assert f"3 of 3 train examples lose their answer at max length {shortest}: no train example" in text
    text = staff_client.post(reverse("training-launch-estimate"), settings(export, max_length=shortest + 5)
                             ).content.decode()
    assert f"2 of 3 train examples lose their answer at max length {shortest + 5}" in text
