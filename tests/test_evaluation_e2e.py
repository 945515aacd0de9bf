"""End to end: an eval run of the offline baseline server on 150 sample examples through a real worker."""
import pytest
from django.urls import reverse

from evaluation.models import EvalRun
from gsctune.jobs import JobState

from .conftest import wait_for
from .factories import load_labeled

pytestmark = [pytest.mark.worker]


def test_baseline_eval_of_150_examples_through_a_worker(live_worker, baseline_server, staff_client, tmp_path):
    load_labeled(tmp_path, 150)
    response = staff_client.post(reverse("eval-run-new"), {
        "name": "baseline", "backend": "endpoint", "base_url": baseline_server.base_url,
        "model": "gsctune-baseline", "prompt_kind": "finetune", "source": "sample", "sample": 150, "seed": 0,
        "concurrency": 8, "max_tokens": 4096})
    run = EvalRun.objects.get()
    assert response["Location"] == run.get_absolute_url()
    run = wait_for(lambda: EvalRun.objects.filter(pk=run.pk, state__in=[JobState.SUCCEEDED, JobState.FAILED]).first(),
                   timeout=240, interval=0.5, message=f"the eval run to finish; worker log:\n{live_worker.log_tail()}")
    assert run.state == JobState.SUCCEEDED, run.error
    assert run.predictions.count() == 150 and run.summary["n"] == 150 and run.summary["failed"] == 0
    overall = run.summary["overall"]
    assert overall["parsed"]["mean"] == 1.0  # the baseline always answers valid JSON
    assert 0.0 < overall["pair_f1"]["mean"] < 1.0
    assert overall["junk_routed"]["n"] > 0 and overall["junk_routed"]["mean"] > 0.5  # it knows the junk catalogue
    assert overall["exact"]["lo"] <= overall["exact"]["mean"] <= overall["exact"]["hi"]

    page = staff_client.get(run.get_absolute_url()).content.decode()
    assert "Metrics (150 predictions" in page and "By language" in page and "By diff size" in page
    assert "<svg" in page and "Succeeded" in page
