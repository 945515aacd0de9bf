"""Training pages: access rules, the estimate before launch, overlaid curves, downloads, merge guard."""

from __future__ import annotations

import pytest
from django.urls import reverse

from gsctune import charts
from gsctune.jobs import JobState
from labeling.models import SFTExport
from training import services
from training.models import TrainingMetric, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def export_dir(tmp_path):
    (tmp_path / "train.jsonl").write_text(
        '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "'
        + "diff " * 300 + '"}, {"role": "assistant", "content": "{}"}]}\n')
    return tmp_path


@pytest.fixture
def run_with_curves(export_dir, staff_user):
    run = services.create_run(base_model="Qwen/Qwen3-8B", data_dir=str(export_dir), user=staff_user,
                              backend="trl", name="curves")
    TrainingRun.objects.filter(pk=run.pk).update(state=JobState.SUCCEEDED, progress_done=3, progress_total=3)
    for step, loss in enumerate([2.0, 1.5, 1.2], start=1):
        TrainingMetric.objects.create(run=run, kind="train", step=step, loss=loss, learning_rate=1e-4,
                                      elapsed_s=step * 2.0, tokens_per_s=1000)
    TrainingMetric.objects.create(run=run, kind="eval", step=3, eval_loss=1.4)
    return TrainingRun.objects.get(pk=run.pk)


def test_launch_needs_staff(client, reviewer_user, run_with_curves):
    client.force_login(reviewer_user)
    assert client.get(reverse("training-list")).status_code == 200
    assert client.get(run_with_curves.get_absolute_url()).status_code == 200
    assert client.get(reverse("training-launch")).status_code == 403
    assert client.post(reverse("training-merge", args=[run_with_curves.pk])).status_code == 403
    assert not run_with_curves.merges.exists()


def test_create_run_estimates_from_the_preset_and_the_export(run_with_curves):
    e = run_with_curves.estimate
    assert e["total_params"] > 8e9 and e["tokens"] > 300 and e["examples"] == 1
    assert e["seq_len"] < 8192 and e["hours_total"] >= 0 and e["cost_total"] >= 0  # seconds for 1 row
    assert run_with_curves.output_dir.endswith(f"run-{run_with_curves.pk}")


def test_bad_settings_are_named(export_dir, tmp_path):
    with pytest.raises(ValueError, match="lora_dropout"):
        services.create_run(base_model="x/y", data_dir=str(export_dir), lora_dropout=5)
    with pytest.raises(ValueError, match="No train.jsonl"):
        services.create_run(base_model="x/y", data_dir=str(tmp_path / "empty"))
    unknown = services.create_run(base_model="nobody/unknown-model", data_dir=str(export_dir))
    assert "huggingface-cli download nobody/unknown-model" in unknown.estimate["error"]


def test_launch_page_shows_the_estimate_before_launch(staff_client, export_dir):
    export = SFTExport.objects.create(state=JobState.SUCCEEDED, folder=str(export_dir))
    form = {"export": export.pk, "base_model": "Qwen/Qwen3-Coder-30B-A3B-Instruct", "backend": "unsloth",
            "precision": "bf16", "lora_r": 32, "lora_alpha": 64, "lora_dropout": 0, "target_modules": "q_proj v_proj",
            "train_experts": "on", "learning_rate": 1.5e-4, "batch_size": 4, "grad_accum": 4, "epochs": 3,
            "max_steps": -1, "warmup_ratio": 0.1, "scheduler": "cosine", "max_length": 8192,
            "assistant_only_loss": "on", "optimizer": "adamw_8bit", "seed": 3407, "eval_steps": 0.1,
            "gpu": "custom", "gpu_memory_gb": 24, "gpu_price_per_hour": "2.50", "estimate": "1"}
    page = staff_client.get(reverse("training-launch"))
    assert page.status_code == 200 and b"Qwen/Qwen3-8B" in page.content  # presets in the datalist
    response = staff_client.post(reverse("training-launch"), form)
    assert response.status_code == 200
    body = response.content.decode()
    assert "estimate-total" in body and "more than the 24 GB" in body
    assert not TrainingRun.objects.exists()  # an estimate launches nothing


def test_list_overlays_ticked_runs(staff_client, run_with_curves, export_dir):
    other = services.create_run(base_model="Qwen/Qwen3-8B", data_dir=str(export_dir), name="other")
    TrainingMetric.objects.create(run=other, kind="train", step=1, loss=3.0)
    page = staff_client.get(reverse("training-list"), {"compare": [run_with_curves.pk, other.pk]})
    body = page.content.decode()
    assert body.count("<polyline") == 3  # two loss curves and one eval curve
    assert "Run %d: curves loss" % run_with_curves.pk in body and "Run %d: other loss" % other.pk in body


def test_run_page_numbers_and_live_partial(staff_client, run_with_curves):
    numbers = services.run_numbers(run_with_curves)
    assert numbers.last_loss == 1.2 and numbers.last_eval_loss == 1.4 and numbers.tokens_per_s == 1000
    live = staff_client.get(reverse("training-live", args=[run_with_curves.pk]))
    assert live.status_code == 200 and b"<polyline" in live.content and b"hx-get" not in live.content  # finished


def test_downloads_are_limited_to_the_artifact_list(staff_client, run_with_curves):
    assert staff_client.get(reverse("training-download", args=[run_with_curves.pk, "../../etc/passwd"])
                            ).status_code == 404
    assert staff_client.get(reverse("training-download", args=[run_with_curves.pk, "train.log"])).status_code == 404
    with pytest.raises(ValueError, match="no adapter"):
        services.launch_merge(run_with_curves)


def test_admin_add_launches_a_run_and_rejects_an_unfinished_export(admin_client, export_dir, tmp_path):
    pending = SFTExport.objects.create(state=JobState.RUNNING)
    form = {"export": pending.pk, "data_dir": "", "base_model": "Qwen/Qwen3-8B", "backend": "trl", "precision": "bf16",
            "lora_r": 32, "lora_alpha": 64, "lora_dropout": 0, "target_modules": '["q_proj"]', "train_experts": "on",
            "learning_rate": 1e-4, "batch_size": 1, "grad_accum": 1, "epochs": 1, "max_steps": 2,
            "warmup_ratio": 0.1, "scheduler": "cosine", "max_length": 512, "assistant_only_loss": "on",
            "optimizer": "adamw_torch", "seed": 1, "eval_steps": 0.5, "gpu": "H100 80GB",
            "gpu_price_per_hour": "2.50"}
    response = admin_client.post(reverse("admin:training_trainingrun_add"), form)
    assert response.status_code == 200 and b"has no train.jsonl yet" in response.content
    done = SFTExport.objects.create(state=JobState.SUCCEEDED, folder=str(export_dir))
    response = admin_client.post(reverse("admin:training_trainingrun_add"), form | {"export": done.pk})
    assert response.status_code == 302, response.content[:3000]
    run = TrainingRun.objects.get()
    assert run.data_dir == str(export_dir) and run.state == JobState.QUEUED and run.estimate["total_params"] > 8e9


def test_long_runs_are_thinned_in_the_chart(export_dir):
    run = services.create_run(base_model="Qwen/Qwen3-8B", data_dir=str(export_dir))
    TrainingMetric.objects.bulk_create(
        TrainingMetric(run=run, kind="train", step=s, loss=5.0 / s) for s in range(1, 2001))
    series = services.chart([run])["series"]
    assert len(series) == 1 and len(series[0]["polyline"].split()) <= charts.MAX_LINE_POINTS + 1
    assert series[0]["points"][0][0] == 1 and series[0]["points"][-1][0] == 2000
