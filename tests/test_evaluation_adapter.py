"""An eval run of a tiny-model LoRA adapter on the CPU: generation works, unparseable output is counted."""
import pytest

from evaluation import runs
from evaluation.models import EvalRun
from gsctune.jobs import JobState, execute_job

from .factories import load_labeled
from .fixtures_training import shared_tiny_setup

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tiny_adapter(tmp_path, tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = shared_tiny_setup(tmp_path_factory.getbasetemp())["dense"]  # shared with the training tests
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(base).save_pretrained(adapter)
    return base, adapter


def test_adapter_run_counts_unparseable_outputs(tmp_path, tiny_adapter):
    base, adapter = tiny_adapter
    examples = load_labeled(tmp_path, 3)
    run = runs.create_eval_run(
        name="tiny adapter", example_ids=[e.pk for e in examples], examples_source="test", enqueue=False,
        backend=EvalRun.Backend.ADAPTER, base_model_path=str(base), adapter_path=str(adapter), max_tokens=16,
        max_diff_chars=2000)
    assert run.queue == "gpu"
    run = execute_job(run.job_label, run.pk)
    assert run.state == JobState.SUCCEEDED, run.error
    preds = list(run.predictions.all())
    assert len(preds) == 3 and run.progress_done == 3
    # A random tiny model writes no proposal: every output is stored and counted as unparsed, not a crash.
    assert all(p.proposal is None and p.error_kind in ("truncated", "unparseable", "empty") for p in preds)
    assert all(0 < p.completion_tokens <= 16 and p.prompt_tokens > 0 for p in preds)
    assert run.summary["overall"]["schema_valid"]["mean"] == 0.0
    assert run.summary["overall"]["exact"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0, "n": 3}
