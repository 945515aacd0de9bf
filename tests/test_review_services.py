"""Review services: findings on save, queues, leases (also under concurrency), verdicts, undo, gate."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from labeling.labels import store_labels
from labeling.models import Label, Review, ReviewItem, Teacher
from labeling.review.services import (
    QueueFilter,
    ReviewError,
    cohen_kappa,
    gate_stats,
    latest_verdicts,
    next_item,
    queue_items,
    record_verdict,
    similarity_to_original,
    undo_last,
)
from tests.factories import good_commits, make_example, make_label, make_labels

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(django_user_model):
    return [django_user_model.objects.create_user(f"rev{i}", password="pw-123456") for i in range(3)]


def test_storing_a_label_runs_checks_and_queues_it():
    commits = good_commits()
    commits[0]["subject"] = "fix(config): fix config loading"
    label = make_label(make_example(1), commits=commits)
    label.refresh_from_db()
    assert [f["check"] for f in label.findings] == ["type_repeated"]
    item = ReviewItem.objects.get(pk=label.pk)
    assert (item.teacher, item.n_findings, item.checks) == ("teacher-a", 1, " type_repeated ")
    assert 0 <= item.gate_rank < 1


def test_labels_stored_in_a_batch_are_checked_and_queued():
    example = make_example(1)
    store_labels([Label(example=example, source="imported", model="bulk", commits=[])])
    label = Label.objects.get()
    assert [f["check"] for f in label.findings] == ["dropped_file"] * 3
    assert ReviewItem.objects.get().n_findings == 3


def test_gate_order_is_seeded_random_and_shared_by_teachers(users):
    examples = [make_example(i) for i in range(12)]
    a = [make_label(e, model="teacher-a") for e in examples]
    b = [make_label(e, model="teacher-b") for e in examples]
    order_a = list(queue_items(QueueFilter(teacher="teacher-a")).values_list("example_id", flat=True))
    order_b = list(queue_items(QueueFilter(teacher="teacher-b")).values_list("example_id", flat=True))
    assert order_a == order_b  # same examples in the same random order for every teacher
    assert order_a != sorted(order_a)
    assert len(a) == len(b) == 12


def test_triage_puts_flagged_first(users):
    clean = make_labels(3)
    flagged = make_label(make_example(10), commits=[{"subject": "bad", "files": ["src/app.py"], "body": "", "issues": []}])
    item = next_item(users[0], QueueFilter(queue="triage"))
    assert item.pk == flagged.pk
    assert len(clean) == 3


def test_filters(users):
    make_labels(2, model="teacher-a")
    go = make_label(make_example(50, repo="github.com/x/go", languages=("go",)), model="teacher-b",
                    commits=[{"subject": "feat: x", "files": ["src/app.py"], "body": "x", "issues": []}])
    assert [i.pk for i in queue_items(QueueFilter(teacher="teacher-b"))] == [go.pk]
    assert [i.pk for i in queue_items(QueueFilter(language="go"))] == [go.pk]
    assert [i.pk for i in queue_items(QueueFilter(repo="github.com/x/go"))] == [go.pk]
    assert [i.pk for i in queue_items(QueueFilter(check="dropped_file"))] == [go.pk]
    record_verdict(users[0], go.pk, "accept")
    assert [i.pk for i in queue_items(QueueFilter(verdict="accept"))] == [go.pk]
    assert go.pk not in [i.pk for i in queue_items(QueueFilter(), users[0])]


def test_leases_keep_reviewers_apart_and_expire(users):
    make_labels(3)
    a1 = next_item(users[0], QueueFilter())
    b1 = next_item(users[1], QueueFilter())
    assert a1.pk != b1.pk
    # asking again (a reload) returns the item already held
    assert next_item(users[0], QueueFilter()).pk == a1.pk
    # the prefetch excludes the current item and leases the one after
    a2 = next_item(users[0], QueueFilter(), exclude=[a1.pk])
    assert a2.pk not in (a1.pk, b1.pk)
    assert next_item(users[1], QueueFilter(), exclude=[b1.pk]) is None
    ReviewItem.objects.filter(pk=a2.pk).update(lease_expires=timezone.now() - timedelta(seconds=1))
    assert next_item(users[1], QueueFilter(), exclude=[b1.pk]).pk == a2.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_next_item_never_hands_out_one_label_twice(django_user_model):
    make_labels(40)
    reviewers = [django_user_model.objects.create_user(f"c{i}", password="pw-123456") for i in range(8)]
    barrier = threading.Barrier(len(reviewers))
    got: dict[str, list[int]] = {}
    errors = []

    def work(user):
        try:
            mine = []
            barrier.wait()
            for _ in range(5):
                item = next_item(user, QueueFilter(), exclude=mine)
                mine.append(item.pk)
            got[user.username] = mine
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    handed = [pk for mine in got.values() for pk in mine]
    assert len(handed) == 40 and len(set(handed)) == 40
    leases = dict(ReviewItem.objects.values_list("pk", "leased_by__username"))
    assert all(leases[pk] == name for name, mine in got.items() for pk in mine)


def test_verdicts_and_corrections(users):
    label = make_labels(1)[0]
    with pytest.raises(ReviewError, match="at least one reason"):
        record_verdict(users[0], label.pk, "reject")
    with pytest.raises(ReviewError, match="unknown reason"):
        record_verdict(users[0], label.pk, "reject", reasons=["nope"])
    r = record_verdict(users[0], label.pk, "reject", reasons=["grouping", "type"], note=" wrong ", seconds=12.5)
    assert (r.reasons, r.note, r.seconds_spent) == (["grouping", "type"], "wrong", 12.5)
    assert ReviewItem.objects.get(pk=label.pk).verdict == "reject"

    correction = {
        "commits": [
            {"type": "feat", "scope": "config", "description": "add config loading", "body": "Adds load_config.",
             "files": ["src/app.py"]},
            {"type": "docs", "scope": "", "description": "describe config", "body": "Docs.",
             "files": ["README.md", "tests/test_app.py"]},
            {"type": "chore", "scope": "", "description": "emptied", "body": "", "files": []},
        ],
        "gitignore": "*.log\n\n",
    }
    r2 = record_verdict(users[1], label.pk, "correct", correction=correction)
    revision = r2.correction
    assert revision.source == Label.Source.HUMAN and revision.revision_of_id == label.pk
    assert [c["subject"] for c in revision.commits] == ["feat(config): add config loading", "docs: describe config"]
    assert revision.gitignore == ["*.log"]
    assert revision.findings == []  # checks ran on the correction too
    assert not ReviewItem.objects.filter(pk=revision.pk).exists()
    item = ReviewItem.objects.get(pk=label.pk)
    assert (item.verdict, item.n_reviewers) == ("correct", 2)  # the latest verdict counts
    assert latest_verdicts([label.pk])[label.pk].pk == r2.pk
    with pytest.raises(ReviewError, match="not reviewed again"):
        record_verdict(users[0], revision.pk, "accept")


@pytest.mark.parametrize(
    "commits,message",
    [
        ([{"type": "feat", "description": "x", "files": ["nope.py"]}], "commit 1: nope.py is not a changed file"),
        ([{"type": "feat", "description": "x", "files": ["README.md"]},
          {"type": "fix", "description": "y", "files": ["README.md"]}], "commit 2: README.md is already"),
        ([{"type": "", "description": "x", "files": ["README.md"]}], "commit 1: type and description"),
        ([], "no commit with files"),
    ],
)
def test_bad_corrections_are_refused_with_the_commit_named(users, commits, message):
    label = make_labels(1)[0]
    with pytest.raises(ReviewError, match=message):
        record_verdict(users[0], label.pk, "correct", correction={"commits": commits})
    assert not Review.objects.exists() and Label.objects.count() == 1


def test_undo_removes_the_last_verdict_and_its_correction(users):
    first, second = make_labels(2)
    record_verdict(users[0], first.pk, "accept")
    corr = {"commits": [{"type": "feat", "description": "all", "files": ["src/app.py", "tests/test_app.py", "README.md"]}]}
    r = record_verdict(users[0], second.pk, "correct", correction=corr)
    undone = undo_last(users[0])
    assert (undone.label_id, undone.verdict) == (second.pk, "correct")
    assert not Review.objects.filter(pk=r.pk).exists()
    assert not Label.objects.filter(source="human").exists()
    item = ReviewItem.objects.get(pk=second.pk)
    assert (item.verdict, item.leased_by_id) == ("", users[0].pk)
    assert undo_last(users[0]).label_id == first.pk
    assert undo_last(users[0]) is None
    assert undo_last(users[1]) is None


def test_skip_keeps_the_item_for_others(users):
    label = make_labels(1)[0]
    assert next_item(users[0], QueueFilter()).pk == label.pk
    record_verdict(users[0], label.pk, "skip")
    assert ReviewItem.objects.get(pk=label.pk).verdict == ""
    assert next_item(users[0], QueueFilter()) is None
    assert next_item(users[1], QueueFilter()).pk == label.pk


def test_second_opinion_queue(users):
    label = make_labels(1)[0]
    record_verdict(users[0], label.pk, "accept")
    assert next_item(users[0], QueueFilter(queue="second")) is None
    assert next_item(users[1], QueueFilter(queue="second")).pk == label.pk


def test_cohen_kappa():
    assert cohen_kappa([]) is None
    assert cohen_kappa([("accept", "accept"), ("reject", "reject")]) == 1.0
    assert cohen_kappa([("accept", "reject"), ("reject", "accept")]) == -1.0
    pairs = [("accept", "accept")] * 20 + [("accept", "reject")] * 5 + [("reject", "accept")] * 10 + [("reject", "reject")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([("accept", "accept")] * 3) == 1.0


def test_gate_stats_use_the_random_prefix_and_apply_the_rule(users, settings):
    settings.REVIEW_GATE_MIN_REVIEWED = 3
    settings.REVIEW_GATE_MIN_LOWER = 0.2
    teacher = Teacher.objects.create(name="teacher-a", base_url="http://127.0.0.1:1/v1", model="m",
                                     price_input_per_million=Decimal("1.5"), price_output_per_million=Decimal("5"))
    labels = make_labels(6, teacher=teacher, latency_ms=1500,
                         usage={"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100})
    make_labels(2, model="teacher-b", start=100)
    order = list(queue_items(QueueFilter(teacher="teacher-a")).values_list("pk", flat=True))
    record_verdict(users[0], order[0], "accept")
    record_verdict(users[0], order[1], "reject", reasons=["grouping", "hallucination"])
    record_verdict(users[0], order[2], "accept")
    record_verdict(users[0], order[4], "reject", reasons=["type"])  # beyond the first unreviewed: not counted
    record_verdict(users[1], order[0], "reject", reasons=["type"])  # double review, latest counts
    record_verdict(users[1], order[1], "reject", reasons=["grouping"])
    a, b = gate_stats()
    assert (a.teacher, b.teacher) == ("teacher-a", "teacher-b")
    assert (a.labeled, a.reviewed, a.reviewed_any) == (6, 3, 4)
    assert (a.accepted, a.rejected, a.corrected) == (1, 2, 0)
    assert a.rate == pytest.approx(1 / 3)
    assert a.lo == pytest.approx(0.0615, abs=1e-3) and a.hi == pytest.approx(0.7923, abs=1e-3)
    assert dict(a.reasons) == {"Wrong type": 1, "Wrong grouping": 1}
    assert (a.double_reviewed, a.kappa) == (2, 0.0)
    assert a.passed is False  # lower bound 0.06 < 0.2
    assert (a.tokens_per_example, a.latency_per_example) == (1100, 1.5)
    assert a.cost_per_example == pytest.approx(0.002)  # 1000 x 1.5 + 100 x 5 per million
    assert a.projected_cost == pytest.approx(0.002 * 8)
    assert (b.labeled, b.reviewed, b.rate, b.passed) == (2, 0, None, False)
    assert b.tokens_per_example == 1200 and b.cost_per_example is None
    assert len(labels) == 6
    settings.REVIEW_GATE_MIN_LOWER = 0.05
    assert gate_stats("teacher-a")[0].passed is True


def test_check_rates_on_gate(users):
    make_labels(3)
    make_label(make_example(9), commits=[{"subject": "bad", "files": ["src/app.py"], "body": "", "issues": []}])
    (s,) = gate_stats()
    rates = {name: rate for name, _, rate in s.check_rates}
    assert rates["subject_format"] == 0.25 and rates["dropped_file"] == 0.25


def test_similarity_to_original():
    label = make_labels(1)[0]
    assert similarity_to_original(label) == {"pair_f1": 1.0, "ari": 1.0}
    label.commits = [{"subject": "feat: all", "files": ["src/app.py", "tests/test_app.py", "README.md"], "body": "x"}]
    assert similarity_to_original(label)["pair_f1"] == 0.5


def test_revisiting_by_verdict_offers_each_label_once(users):
    a, b = make_labels(2)
    record_verdict(users[0], a.pk, "reject", reasons=["type"])
    record_verdict(users[0], b.pk, "reject", reasons=["type"])
    f = QueueFilter(queue="all", verdict="reject")
    assert next_item(users[0], f) is None  # already reviewed by this reviewer
    first = next_item(users[1], f)
    record_verdict(users[1], first.pk, "reject", reasons=["grouping"])
    second = next_item(users[1], f)
    assert second.pk != first.pk
    record_verdict(users[1], second.pk, "accept")
    assert next_item(users[1], f) is None
