"""Migration 0007 turns LabelFailure's two booleans into its state, and back."""
import pytest

from tests.migration_state import migrate_to

BEFORE = [("labeling", "0006_label_production")]
AFTER = [("labeling", "0007_labelfailure_state")]


@pytest.mark.django_db(transaction=True)
def test_booleans_become_states_and_back():
    old = migrate_to(BEFORE)
    Example, LabelFailure = old.get_model("labeling", "Example"), old.get_model("labeling", "LabelFailure")
    Teacher, PromptVersion = old.get_model("labeling", "Teacher"), old.get_model("labeling", "PromptVersion")
    LabelingRun = old.get_model("labeling", "LabelingRun")
    teacher = Teacher.objects.create(name="t", base_url="http://127.0.0.1:9/v1", model="m")
    prompt = PromptVersion.objects.create(name="p", system_prompt="s", content_hash="h")
    run = LabelingRun.objects.create(teacher=teacher, prompt_version=prompt)
    flags = {"open": (False, False), "retry": (False, True), "resolved": (True, False)}
    for n, (resolved, pending) in enumerate(flags.values()):
        example = Example.objects.create(key=f"k{n}", repo_url="r", branch="main", base_commit="a", head_commit="b",
                                         n_commits=1, diff="", diff_chars=0, n_files=0)
        LabelFailure.objects.create(run=run, example=example, kind="timeout", message="m",
                                    resolved=resolved, pending_retry=pending)
    try:
        new = migrate_to(AFTER)
        states = dict(new.get_model("labeling", "LabelFailure").objects.values_list("example__key", "state"))
        assert states == {"k0": "open", "k1": "retry", "k2": "resolved"}
        back = migrate_to(BEFORE)
        rows = back.get_model("labeling", "LabelFailure").objects.order_by("example__key")
        assert [(r.resolved, r.pending_retry) for r in rows] == list(flags.values())
    finally:
        migrate_to()
