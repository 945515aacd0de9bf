"""The gate page says where the counted prefix stops and why, how many more reviews the pass rule
needs, and counts a corrected label as corrected."""

import pytest
from django.urls import reverse

from labeling.review.services import QueueFilter, gate_stats, next_item, queue_items, record_verdict
from tests.factories import make_labels

pytestmark = pytest.mark.django_db

CORRECTION = {"commits": [{"type": "feat", "scope": "config", "description": "load the config",
                           "files": ["src/app.py", "tests/test_app.py", "README.md"]}], "gitignore": []}


@pytest.fixture
def reviewed(django_user_model, settings):
    settings.REVIEW_GATE_MIN_REVIEWED = 8
    settings.REVIEW_GATE_MIN_LOWER = 0.35
    ann, bob = (django_user_model.objects.create_user(n, password="pw-123456") for n in ("ann", "bob"))
    make_labels(12)
    order = list(queue_items(QueueFilter()).values_list("pk", flat=True))
    record_verdict(ann, order[0], "accept")
    record_verdict(ann, order[1], "correct", correction=CORRECTION)
    record_verdict(ann, order[2], "accept")
    record_verdict(bob, order[3], "skip")
    record_verdict(ann, order[5], "accept")  # beyond the stop: not counted yet
    return ann, bob, order


def test_the_stop_its_reason_and_what_passing_needs(reviewed, client):
    ann, bob, order = reviewed
    (s,) = gate_stats()
    assert (s.reviewed, s.reviewed_any, s.accepted, s.corrected, s.rejected) == (3, 4, 2, 1, 0)
    assert s.rate == pytest.approx(2 / 3)  # the correction is not an accept
    assert (s.stop_label, s.stop_reason, s.beyond) == (
        order[3], "skipped by bob; review it to count further", 1)
    # 5 more (8 in all) reach the rule; with one of them not accepted the lower bound is still 0.41.
    assert (s.more_needed, s.more_not_accepted) == (5, 1)

    client.force_login(ann)
    html = client.get(reverse("review-gate")).content.decode()
    stop = reverse("review-item", args=[order[3]])
    assert (f'<td data-stat="stop">label <a href="{stop}">{order[3]}</a>: skipped by bob; review it to count '
            'further <span class="muted">(1 later verdict not counted yet)</span></td>') in html
    assert ('<td data-stat="to-pass">at least <b>5</b> more reviews in gate order, at most 1 of them rejected '
            'or corrected</td>') in html
    assert '<th>corrected (not accepted)</th><td class="num" data-stat="corrected">1</td>' in html


def test_a_lease_on_the_stop_label_is_named(reviewed):
    ann, bob, order = reviewed
    assert next_item(ann, QueueFilter()).pk == order[3]
    assert gate_stats()[0].stop_reason == "ann is reviewing it now"


def test_a_rule_that_cannot_be_met_or_is_met(reviewed, settings, client):
    ann, _, _ = reviewed
    client.force_login(ann)
    settings.REVIEW_GATE_MIN_LOWER = 0.99
    assert gate_stats()[0].more_needed is None
    html = client.get(reverse("review-gate")).content.decode()
    assert '<td data-stat="to-pass">cannot pass with the 9 labels left: label more examples</td>' in html
    settings.REVIEW_GATE_MIN_LOWER, settings.REVIEW_GATE_MIN_REVIEWED = 0.1, 3
    assert ('<td data-stat="to-pass">rule met: 3 reviewed, lower bound 0.21 ≥ 0.1</td>'
            in client.get(reverse("review-gate")).content.decode())


def test_all_reviewed_has_no_stop(django_user_model):
    ann = django_user_model.objects.create_user("ann", password="pw-123456")
    for label in make_labels(2):
        record_verdict(ann, label.pk, "accept")
    (s,) = gate_stats()
    assert (s.stop_label, s.stop_reason, s.beyond) == (None, "", 0)
