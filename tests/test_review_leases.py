"""Verdicts and undo respect the lease; repeats are recognized by their token; missing labels are 404."""

import json

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from labeling.models import Review, ReviewItem
from labeling.review.services import QueueFilter, next_item, record_verdict, undo_last
from tests.factories import make_labels

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(django_user_model):
    users = [django_user_model.objects.create_user(n, password="pw-123456") for n in ("ann", "bob")]
    clients = []
    for user in users:
        c = Client()
        c.force_login(user)
        clients.append(c)
    return users, clients


def post_verdict(client, label_id, **body):
    return client.post(reverse("review-verdict", args=[label_id]), json.dumps(body), content_type="application/json")


def test_a_verdict_on_a_label_someone_else_holds_is_409_with_a_sentence(two):
    (ann, bob), (ann_c, bob_c) = two
    label = make_labels(1)[0]
    assert next_item(bob, QueueFilter()).pk == label.pk
    r = post_verdict(ann_c, label.pk, verdict="accept", token="t1")
    assert r.status_code == 409
    assert r.json()["error"] == (f"bob is reviewing label {label.pk} right now, so your verdict was not saved; "
                                 "carry on with the next label.")
    assert not Review.objects.exists()
    # The holder's verdict goes through and frees the label.
    assert post_verdict(bob_c, label.pk, verdict="accept", token="t2").status_code == 200
    assert ReviewItem.objects.get(pk=label.pk).leased_by is None


def test_a_free_label_takes_a_verdict_from_anyone(two):
    (ann, bob), (ann_c, _) = two
    label = make_labels(1)[0]
    assert post_verdict(ann_c, label.pk, verdict="accept").status_code == 200


def test_a_verdict_for_a_missing_label_is_404(two):
    _, (ann_c, _) = two
    r = post_verdict(ann_c, 999_999, verdict="accept")
    assert r.status_code == 404 and r.json()["error"] == "label 999999 does not exist"


def test_the_same_verdict_twice_is_stored_once_and_one_undo_removes_it(two):
    (ann, _), (ann_c, _) = two
    first, second = make_labels(2)
    record_verdict(ann, first.pk, "accept", token="a")
    one = post_verdict(ann_c, second.pk, verdict="reject", reasons=["type"], token="same").json()
    again = post_verdict(ann_c, second.pk, verdict="reject", reasons=["type"], token="same").json()
    assert (one["repeat"], again["repeat"]) == (False, True) and one["review"] == again["review"]
    assert Review.objects.filter(label=second).count() == 1
    assert undo_last(ann).label_id == second.pk
    assert list(Review.objects.values_list("label_id", flat=True)) == [first.pk]
    # A new token on the same label is a new verdict (a second look), not a repeat.
    record_verdict(ann, second.pk, "accept", token="b")
    assert Review.objects.filter(label=second).count() == 1


def test_the_database_refuses_a_token_twice(two):
    (ann, _), _ = two
    label = make_labels(1)[0]
    Review.objects.create(label=label, reviewer=ann, verdict="accept", token="x")
    Review.objects.create(label=label, reviewer=ann, verdict="accept")  # no token: no constraint
    Review.objects.create(label=label, reviewer=ann, verdict="accept")
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(label=label, reviewer=ann, verdict="accept", token="x")


def test_undo_hands_back_only_a_free_label_or_the_undoers_own(two):
    """A skips, B's prefetch leases the label, A undoes: B keeps it and A is not served it."""
    (ann, bob), (ann_c, _) = two
    label, other = sorted(make_labels(2), key=lambda x: ReviewItem.objects.get(pk=x.pk).gate_rank)
    assert next_item(ann, QueueFilter()).pk == label.pk
    record_verdict(ann, label.pk, "skip")
    assert next_item(bob, QueueFilter(), exclude=[other.pk]).pk == label.pk
    data = ann_c.post(reverse("review-undo")).json()
    assert (data["label"], data["leased"]) == (label.pk, False)
    item = ReviewItem.objects.get(pk=label.pk)
    assert item.leased_by == bob
    assert next_item(ann, QueueFilter()).pk == other.pk
    # Once bob is done, undoing hands a free label back to its reviewer.
    record_verdict(bob, label.pk, "accept")
    record_verdict(ann, other.pk, "accept")
    undone = undo_last(ann)
    assert undone.label_id == other.pk and undone.leased
    assert ReviewItem.objects.get(pk=other.pk).leased_by == ann


def test_counts_follow_the_review_rows(two):
    (ann, bob), _ = two
    label = make_labels(1)[0]
    record_verdict(ann, label.pk, "accept")
    record_verdict(bob, label.pk, "reject", reasons=["type"])
    record_verdict(bob, label.pk, "skip")
    item = ReviewItem.objects.get(pk=label.pk)
    assert (item.verdict, item.n_reviewers) == ("reject", 2)
    undo_last(bob)  # the skip
    undo_last(bob)  # the reject
    item.refresh_from_db()
    assert (item.verdict, item.n_reviewers) == ("accept", 1)
