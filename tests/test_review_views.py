"""Review pages over HTTP: queue, next (with prefetch), item page, verdict/undo JSON, gate; concurrency."""

import json
import threading
import urllib.request

import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import Label, Review, ReviewItem
from tests.factories import make_example, make_label, make_labels

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer(django_user_model):
    return django_user_model.objects.create_user("ann", password="pw-ann-123")


@pytest.fixture
def rc(client, reviewer):
    client.force_login(reviewer)
    return client


def test_queue_lists_items_and_filters(rc):
    make_labels(2)
    flagged = make_label(make_example(9), model="teacher-b",
                         commits=[{"subject": "oops", "files": ["src/app.py"], "body": "x", "issues": []}])
    page = rc.get(reverse("review-queue"), {"queue": "triage"}).content.decode()
    assert "3 items" in page and "teacher-b" in page
    page = rc.get(reverse("review-queue"), {"check": "subject_format"}).content.decode()
    assert "1 item" in page and f">{flagged.pk}</a>" in page


def test_next_redirects_and_prefetch_returns_the_fragment(rc, reviewer):
    first, second = make_labels(2)
    order = list(ReviewItem.objects.order_by("gate_rank").values_list("pk", flat=True))
    response = rc.get(reverse("review-next"), {"queue": "gate"})
    assert response.status_code == 302
    assert response["Location"] == reverse("review-item", args=[order[0]]) + "?queue=gate"
    fragment = rc.get(reverse("review-next"), {"queue": "gate", "fragment": 1, "exclude": order[0]})
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert f'data-label="{order[1]}"' in html and "<html" not in html
    assert ReviewItem.objects.get(pk=order[1]).leased_by == reviewer
    empty = rc.get(reverse("review-next"), {"fragment": 1, "exclude": order})
    assert empty.status_code == 204
    assert "Nothing left to review" in rc.get(reverse("review-next"), {"exclude": order}).content.decode()
    assert {first.pk, second.pk} == set(order)


def test_item_page_shows_diff_commits_findings_and_junk(rc):
    example = make_example(1, diff=(
        "diff --git a/src/app.py b/src/app.py\n--- a/src/app.py\n+++ b/src/app.py\n@@ -1 +1 @@\n-a\n+b\n"
    ), files=["src/app.py"])
    label = make_label(example, commits=[
        {"subject": "fix(app): fix the app", "files": ["src/app.py", ".DS_Store"], "body": "Changes a to b.",
         "issues": [{"message": "no test", "path": "src/app.py"}]},
    ], injected_files=[".DS_Store"], noise_injected=True,
        noise_diff="diff --git a/.DS_Store b/.DS_Store\nnew file mode 100644\nBinary files /dev/null and b/.DS_Store differ\n")
    html = rc.get(reverse("review-item", args=[label.pk])).content.decode()
    assert 'class="diff-file modified tint-0"' in html
    assert 'class="diff-file added tint-0 junk"' in html
    assert "Injected junk inside a commit" in html and "Type repeated in description" in html
    assert "no test" in html and "Original human commits" in html
    assert "<kbd>a</kbd> accept" in html and 'src="/static/js/review.js"' in html


def test_verdict_and_undo_json(rc, reviewer):
    label = make_labels(1)[0]
    url = reverse("review-verdict", args=[label.pk])
    bad = rc.post(url, json.dumps({"verdict": "reject"}), content_type="application/json")
    assert bad.status_code == 400 and bad.json() == {"error": "a rejection needs at least one reason"}
    garbage = rc.post(url, "not json", content_type="application/json")
    assert garbage.status_code == 400 and "error" in garbage.json()
    ok = rc.post(url, json.dumps({"verdict": "reject", "reasons": ["junk", "other"], "note": "n", "seconds": 3}),
                 content_type="application/json")
    assert ok.status_code == 200 and ok.json()["verdict"] == "reject"
    review = Review.objects.get()
    assert (review.reviewer, review.reasons, review.seconds_spent) == (reviewer, ["junk", "other"], 3.0)
    undo = rc.post(reverse("review-undo") + "?queue=triage")
    assert undo.json()["url"] == reverse("review-item", args=[label.pk]) + "?queue=triage"
    assert not Review.objects.exists()
    assert rc.post(reverse("review-undo")).status_code == 400
    assert rc.get(reverse("review-undo")).status_code == 405


def test_correction_over_http_creates_a_revision(rc):
    label = make_labels(1)[0]
    body = {"verdict": "correct", "correction": {"commits": [
        {"type": "feat", "scope": "app", "description": "load config", "body": "Adds load_config.",
         "files": ["src/app.py", "tests/test_app.py", "README.md"], "issues": []}], "gitignore": ["*.log"]}}
    response = rc.post(reverse("review-verdict", args=[label.pk]), json.dumps(body), content_type="application/json")
    revision = Label.objects.get(pk=response.json()["correction"])
    assert revision.revision_of == label and revision.commits[0]["subject"] == "feat(app): load config"
    html = rc.get(reverse("review-item", args=[revision.pk])).content.decode()
    assert "not reviewed again" in html


def test_gate_page(rc):
    make_labels(3)
    html = rc.get(reverse("review-gate")).content.decode()
    assert "teacher-a" in html and 'data-stat="labeled">3<' in html and "fail" in html


@pytest.mark.django_db(transaction=True)
def test_concurrent_http_next_requests_get_different_labels(live_server, django_user_model):
    make_labels(12)
    users = [django_user_model.objects.create_user(f"u{i}", password="pw-123456") for i in range(6)]
    cookies = []
    for user in users:
        c = Client()
        c.force_login(user)
        cookies.append(c.cookies["sessionid"].value)
    barrier = threading.Barrier(len(users))
    got, errors = {}, []

    def ask(i):
        opener = urllib.request.build_opener(urllib.request.HTTPRedirectHandler())
        req = urllib.request.Request(f"{live_server.url}{reverse('review-next')}?fragment=1",
                                     headers={"Cookie": f"sessionid={cookies[i]}"})
        try:
            barrier.wait()
            with opener.open(req, timeout=30) as r:
                html = r.read().decode()
            got[i] = int(html.split('data-label="', 1)[1].split('"', 1)[0])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(users))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(got) == 6
    assert len(set(got.values())) == 6


def test_item_page_warns_when_someone_else_holds_the_lease(rc, django_user_model):
    from labeling.review.services import QueueFilter, next_item

    label = make_labels(1)[0]
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    assert next_item(bob, QueueFilter()).pk == label.pk
    html = rc.get(reverse("review-item", args=[label.pk])).content.decode()
    assert "bob is reviewing this label right now" in html
