"""Blind side-by-side comparison sets: building, order, leases, votes, results and exports."""
import csv
import io
import json

import pytest
from django.urls import reverse

from evaluation import comparisons, runs
from evaluation.models import ComparisonItem, EvalRun, Prediction, Vote

from .factories import load_labeled

pytestmark = pytest.mark.django_db

FULL = {"accuracy": 4, "specificity": 3, "brevity": 5, "type": 4, "order": 3}


def eval_run_with(examples, name, subject, n=None):
    run = EvalRun.objects.create(name=name, base_url="http://x/v1", model=name, state="succeeded",
                                 example_ids=[e.pk for e in examples])
    for e in examples[:n]:
        Prediction.objects.create(run=run, example=e, raw="{}", json_found=True,
                                  proposal={"commits": [{"subject": subject, "files": e.changed_files, "body": "",
                                                         "issues": []}], "gitignore": []})
    return run


@pytest.fixture
def three_systems(tmp_path):
    examples = load_labeled(tmp_path, 8)
    run = eval_run_with(examples, "finetuned", "feat: <b>bold</b> change", n=6)
    specs = [{"kind": "eval_run", "eval_run": run.pk}, {"kind": "teacher", "model": "teacher-x"}, {"kind": "human"}]
    return examples, run, specs


def all_scores(letters, value=None):
    return {letter: dict(FULL) if value is None else dict.fromkeys(FULL, value) for letter in letters}


def test_set_uses_examples_every_system_answered(three_systems):
    examples, run, specs = three_systems
    cset = comparisons.build_comparison_set("s", specs, n_items=20, seed=1)
    assert cset.items.count() == 6  # the eval run answered only 6 of 8
    assert [s.name for s in cset.systems.all()] == ["finetuned", "teacher teacher-x", "original human commits"]
    item = cset.items.first()
    assert item.outputs.count() == 3
    again = comparisons.build_comparison_set("s2", specs, n_items=3, seed=1)
    assert list(again.items.values_list("example_id", flat=True)) == \
        list(cset.items.values_list("example_id", flat=True))[:3]


def test_bad_specs_are_named(three_systems):
    _, run, specs = three_systems
    with pytest.raises(runs.EvalError, match="at least two"):
        comparisons.build_comparison_set("s", specs[:1], n_items=5)
    with pytest.raises(runs.EvalError, match="system 2: eval run 999"):
        comparisons.build_comparison_set("s", [specs[0], {"kind": "eval_run", "eval_run": 999}], n_items=5)
    with pytest.raises(runs.EvalError, match="system 2 .* no outputs"):
        comparisons.build_comparison_set("s", [specs[0], {"kind": "teacher", "model": "nobody"}], n_items=5)


def test_order_is_random_per_item_and_reviewer_but_stable(three_systems, django_user_model):
    _, _, specs = three_systems
    cset = comparisons.build_comparison_set("s", specs, n_items=6, seed=3)
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(4)]
    orders = {(item.pk, u.pk): comparisons.display_order(item, u.pk, cset.seed) for item in cset.items.all() for u in users}
    assert all(sorted(o) == sorted(next(iter(orders.values()))) for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) > 1
    item = cset.items.first()
    assert comparisons.display_order(item, users[0].pk, cset.seed) == orders[(item.pk, users[0].pk)]
    # First position is not always the same system.
    assert len({o[0] for o in orders.values()}) > 1


def test_leases_keep_two_reviewers_apart(three_systems, django_user_model):
    _, _, specs = three_systems
    cset = comparisons.build_comparison_set("s", specs, n_items=2, seed=0)
    alice = django_user_model.objects.create_user("alice")
    bob = django_user_model.objects.create_user("bob")
    carol = django_user_model.objects.create_user("carol")
    a = comparisons.next_item(alice, cset)
    b = comparisons.next_item(bob, cset)
    assert a and b and a.pk != b.pk
    assert comparisons.next_item(alice, cset).pk == a.pk  # the same item until she votes
    assert comparisons.next_item(carol, cset) is None  # both are leased
    with pytest.raises(runs.EvalError, match="alice is scoring"):
        comparisons.record_vote(bob, a, all_scores("ABC"), "A")
    comparisons.record_vote(alice, a, all_scores("ABC"), "A")
    a.refresh_from_db()
    assert a.n_votes == 1 and a.leased_by is None
    assert comparisons.next_item(carol, cset).pk == a.pk  # freed; bob still holds b
    assert comparisons.next_item(alice, cset) is None  # a is scored by her, b leased by bob


def test_vote_validation_and_mapping(three_systems, django_user_model):
    _, _, specs = three_systems
    cset = comparisons.build_comparison_set("s", specs, n_items=2, seed=0)
    user = django_user_model.objects.create_user("r")
    item = comparisons.next_item(user, cset)
    partial = all_scores("AB")
    with pytest.raises(runs.EvalError, match="Accuracy of C"):
        comparisons.record_vote(user, item, partial, "A")
    bad = all_scores("ABC")
    bad["B"]["brevity"] = 7
    with pytest.raises(runs.EvalError, match="Brevity of B"):
        comparisons.record_vote(user, item, bad, "A")
    with pytest.raises(runs.EvalError, match="preference"):
        comparisons.record_vote(user, item, all_scores("ABC"), "Z")
    scores = all_scores("ABC")
    scores["B"]["accuracy"] = 1
    vote = comparisons.record_vote(user, item, scores, "B")
    order = comparisons.display_order(item, user.pk, cset.seed)
    assert vote.order == order and vote.preferred_id == order[1]
    assert vote.scores.get(system_id=order[1], criterion="accuracy").value == 1
    with pytest.raises(runs.EvalError, match="already scored"):
        comparisons.record_vote(user, item, all_scores("ABC"), "tie")


def test_outcomes_count_ties_half_and_skip_unrelated_pairs(three_systems, django_user_model):
    _, _, specs = three_systems
    cset = comparisons.build_comparison_set("s", specs, n_items=2, seed=0)
    user = django_user_model.objects.create_user("r")
    first = comparisons.next_item(user, cset)
    comparisons.record_vote(user, first, all_scores("ABC"), "A")
    second = comparisons.next_item(user, cset)
    comparisons.record_vote(user, second, all_scores("ABC"), "bad")
    votes = list(Vote.objects.order_by("id"))
    outcomes = comparisons.vote_outcomes(votes)
    winner = str(votes[0].preferred_id)
    first_outcomes = outcomes[:2]
    assert all(winner in (a, b) and s == (1.0 if a == winner else 0.0) for a, b, s in first_outcomes)
    assert [s for _, _, s in outcomes[2:]] == [0.5, 0.5, 0.5]


def test_results_and_exports(three_systems, django_user_model, client):
    _, run, specs = three_systems
    cset = comparisons.build_comparison_set("s", specs, n_items=6, seed=0)
    reviewers = [django_user_model.objects.create_user(f"r{i}") for i in range(2)]
    human_id = cset.systems.get(kind="human").pk
    for user in reviewers:
        while (item := comparisons.next_item(user, cset)) is not None:
            order = comparisons.display_order(item, user.pk, cset.seed)
            letter = comparisons.LETTERS[order.index(human_id)]
            scores = all_scores("ABC", 2)
            scores[letter] = dict.fromkeys(FULL, 5)
            comparisons.record_vote(user, item, scores, letter)
    r = comparisons.comparison_results(cset)
    assert r["n_votes"] == 12 and r["per_reviewer"] == [("r0", 6), ("r1", 6)]
    assert r["ranking"][0]["name"] == "original human commits"
    human_row = next(row for row in r["scores"] if row["system"].pk == human_id)
    assert human_row["overall"]["mean"] == 5.0
    rates = {(w["a_name"], w["b_name"]): w for w in r["win_rates"]}
    assert rates[("original human commits", "finetuned")]["rate"] == 1.0
    assert ("finetuned", "teacher teacher-x") not in rates  # preferring a third output says nothing here

    client.force_login(reviewers[0])
    page = client.get(reverse("cmp-results", args=[cset.pk])).content.decode()
    assert "Bradley-Terry" in page and "r0" in page and "original human commits" in page
    data = json.loads(client.get(reverse("cmp-export", args=[cset.pk, "json"])).content)
    assert len(data["votes"]) == 12 * 3
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("cmp-export", args=[cset.pk, "csv"])).content.decode())))
    assert len(rows) == 36 and set(rows[0]) == set(comparisons.EXPORT_FIELDS)
    assert client.get(reverse("cmp-export", args=[cset.pk, "xml"])).status_code == 404


def test_item_page_hides_systems_until_the_vote_and_escapes_outputs(three_systems, django_user_model, client):
    _, _, specs = three_systems
    cset = comparisons.build_comparison_set("s", specs, n_items=2, seed=0)
    user = django_user_model.objects.create_user("r", password="x")
    client.force_login(user)
    response = client.get(reverse("cmp-next", args=[cset.pk]))
    item = ComparisonItem.objects.get(leased_by=user)
    assert response["Location"] == reverse("cmp-item", args=[cset.pk, item.pk])
    html = client.get(response["Location"]).content.decode()
    assert "finetuned" not in html and "teacher-x" not in html and "original human commits" not in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<kbd>t</kbd> tie" in html
    # Revealing before voting is refused.
    reveal = reverse("cmp-reveal", args=[cset.pk, item.pk])
    assert client.get(reveal)["Location"] == reverse("cmp-item", args=[cset.pk, item.pk])
    post = {f"s-{letter}-{c}": "3" for letter in "ABC" for c in FULL}
    bad = client.post(reverse("cmp-item", args=[cset.pk, item.pk]), {**post, "s-B-type": ""})
    assert bad.status_code == 400 and "Type correctness of B" in bad.content.decode()
    ok = client.post(reverse("cmp-item", args=[cset.pk, item.pk]), {**post, "pref": "tie"})
    assert ok["Location"] == reveal
    revealed = client.get(reveal).content.decode()
    assert "finetuned" in revealed and "original human commits" in revealed


def test_scoring_page_shows_the_junk_the_systems_saw(three_systems):
    _, _, specs = three_systems
    cset = comparisons.build_comparison_set("s", specs, n_items=6, seed=0)
    noisy = [i for i in cset.items.select_related("example") if i.example.labels.filter(noise_injected=True).exists()]
    assert noisy, "the generated sample has noise-injected labels"
    label = noisy[0].example.labels.get()
    record = comparisons.item_input(noisy[0])
    assert set(label.injected_files) <= set(record["changed_files"])
    assert record["diff"].endswith(label.noise_diff)


def test_building_a_set_from_the_page_is_staff_only(three_systems, client, django_user_model):
    _, run, _ = three_systems
    data = {"name": "web set", "eval_runs": [run.pk], "teachers": ["teacher-x"], "human": "on", "n_items": 4,
            "seed": 5}
    user = django_user_model.objects.create_user("plain", password="x")
    client.force_login(user)
    client.post(reverse("cmp-set-new"), data)
    assert not comparisons.ComparisonSet.objects.exists()
    user.is_staff = True
    user.save()
    response = client.post(reverse("cmp-set-new"), data)
    cset = comparisons.ComparisonSet.objects.get()
    assert response["Location"] == cset.get_absolute_url()
    assert cset.items.count() == 4 and cset.systems.count() == 3 and cset.seed == 5
    one = client.post(reverse("cmp-set-new"), {**data, "teachers": [], "human": ""}, follow=True)
    assert "Choose at least two systems." in one.content.decode()
