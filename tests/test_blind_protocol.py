"""Blind comparison of protocol eval runs: hunk ids tinted by commit, no transcript before the vote, commit order."""
import re

import pytest
from django.urls import reverse

from evaluation import comparisons
from evaluation.models import CRITERIA, EvalRun, Prediction, Score, Vote

from .factories import load_labeled

pytestmark = pytest.mark.django_db

SECRET = "TRANSCRIPT-ONLY <think>plan</think>"


def protocol_run(examples, name, subject):
    run = EvalRun.objects.create(name=name, base_url="http://x/v1", model=name, state="succeeded",
                                 target=EvalRun.Target.GIT_SMART_COMMIT, example_ids=[e.pk for e in examples])
    for e in examples:
        Prediction.objects.create(
            run=run, example=e, raw="", json_found=True, outcome="finalized",
            proposal={"commits": [{"subject": subject, "hunks": [f"{name}.py::1", f"{name}.py::2"], "body": ""},
                                  {"subject": "docs: second", "hunks": [f"{name}.md::1"], "body": ""}],
                      "skipped_hunks": [f"{name}.junk::1"], "gitignore": []},
            transcript=[{"role": "assistant", "content": SECRET}])
    return run


@pytest.fixture
def cset(tmp_path):
    examples = load_labeled(tmp_path, 3)
    a, b = protocol_run(examples, "alpha", "feat: <b>alpha</b>"), protocol_run(examples, "beta", "fix: beta")
    return comparisons.build_comparison_set(
        "proto", [{"kind": "eval_run", "eval_run": a.pk}, {"kind": "eval_run", "eval_run": b.pk}], n_items=3)


def test_score_page_shows_hunk_ids_tinted_by_commit_and_hides_the_transcript(cset, client, django_user_model):
    user = django_user_model.objects.create_user("rev", password="pw-rev-123")
    client.force_login(user)
    item = cset.items.first()
    html = client.get(reverse("cmp-item", args=[cset.pk, item.pk])).content.decode()
    for hunk in ("alpha.py::1", "alpha.py::2", "alpha.md::1", "beta.py::1", "beta.md::1", "alpha.junk::1"):
        assert re.search(rf'class="chip mono hunk-id[^"]*">{re.escape(hunk)}</span>', html), hunk
    assert html.count('<li class="tint-0" data-commit="1">') == 2  # one per system, the review page's tints
    assert html.count('<li class="tint-1" data-commit="2">') == 2
    assert "css/review.css" in html
    assert "&lt;b&gt;alpha&lt;/b&gt;" in html and "<b>alpha</b>" not in html
    assert "TRANSCRIPT-ONLY" not in html and "plan" not in html  # not before the vote
    assert "transcript" not in html.lower()
    assert "alpha" not in html.split("Output A")[0].split("<main")[-1]  # systems stay anonymous
    assert 'data-name="s-A-order"' in html and "Commit order" in html

    scores = {letter: {c: 3 for c, _ in CRITERIA} for letter in "AB"}
    scores["A"]["order"], scores["B"]["order"] = 5, 1
    post = {f"s-{letter}-{c}": str(v) for letter, row in scores.items() for c, v in row.items()}
    client.post(reverse("cmp-item", args=[cset.pk, item.pk]), {**post, "pref": "A"})
    vote = Vote.objects.get()
    assert Score.objects.get(vote=vote, system_id=vote.order[0], criterion="order").value == 5
    reveal = client.get(reverse("cmp-reveal", args=[cset.pk, item.pk])).content.decode()
    assert "Commit order" in reveal
    links = [Prediction.objects.get(run=s.eval_run, example=item.example).get_absolute_url()
             for s in cset.systems.all()]
    assert all(f'href="{link}"' in reveal for link in links)  # the transcript is one click away, after the vote


def test_commit_order_is_aggregated_and_votes_from_before_it_still_load(cset, django_user_model):
    users = [django_user_model.objects.create_user(f"r{i}") for i in range(2)]
    item = cset.items.first()
    order = comparisons.display_order(item, users[0].pk, cset.seed)
    full = {letter: {c: 4 for c, _ in CRITERIA} for letter in "AB"}
    full["A"]["order"], full["B"]["order"] = 5, 1
    comparisons.record_vote(users[0], item, full, "A")
    with pytest.raises(comparisons.EvalError, match="Commit order of A"):
        comparisons.record_vote(users[1], item, {k: {c: 4 for c, _ in CRITERIA if c != "order"} for k in "AB"}, "A")
    # a vote stored before the criterion existed: four scores each, no "order"
    old = Vote.objects.create(item=item, reviewer=users[1], order=order, preference="tie")
    Score.objects.bulk_create([Score(vote=old, system_id=sid, criterion=c, value=2)
                               for sid in order for c in ("accuracy", "specificity", "brevity", "type")])
    r = comparisons.comparison_results(cset)
    keys = [c for c, _ in r["criteria"]]
    assert keys[-1] == "order"
    by_id = {row["system"].pk: row for row in r["scores"]}
    first, second = by_id[order[0]], by_id[order[1]]
    assert first["cells"][keys.index("order")]["mean"] == 5 and first["cells"][keys.index("order")]["n"] == 1
    assert second["cells"][keys.index("order")]["mean"] == 1
    assert first["cells"][0]["n"] == 2  # the old vote still counts on the criteria it has
    assert first["overall"]["n"] == 2 and first["overall"]["mean"] == pytest.approx(((4 * 4 + 5) / 5 + 2) / 2)
    rows = comparisons.export_rows(cset)
    assert [row["order"] for row in rows].count(None) == 2
    assert sorted(row["order"] for row in rows if row["order"]) == [1, 5]
