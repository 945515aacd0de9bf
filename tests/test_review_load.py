"""Four reviewers at once against a live server, over real HTTP as review.js talks to it.

Each reviewer thread asks for its next item (the page's prefetch), posts verdicts with a
client token, sometimes sends the same verdict twice (a retry, at the same moment),
sometimes undoes. Afterwards nothing may be served twice, stored twice or lost, and the
queue counts must equal the Review rows. Written for SQLite and PostgreSQL alike.
"""

import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from urllib.parse import urlsplit

import pytest
from django.db.models import Count
from django.test import Client
from django.urls import reverse

from labeling.models import Review, ReviewItem
from tests.factories import make_labels

pytestmark = pytest.mark.django_db(transaction=True)

REVIEWERS = 4
LABELS = 200
CSRF = "loadtestcsrftoken0123456789abcde"  # 32 characters: Django accepts a client-chosen cookie/header pair


class Browser:
    """One reviewer's HTTP session (cookie jar of two cookies, keep-alive connection)."""

    def __init__(self, base_url: str, session_id: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.cookie = f"sessionid={session_id}; csrftoken={CSRF}"
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method: str, path: str, body: dict | None = None, retry: bool = True) -> tuple[int, bytes]:
        """One request; a dropped keep-alive connection is retried (verdicts carry their token),
        except for ``retry=False`` (undo), which gets a fresh connection instead."""
        headers = {"Cookie": self.cookie}
        data = None
        if method == "POST":
            headers.update({"Content-Type": "application/json", "X-CSRFToken": CSRF})
            data = json.dumps(body or {}).encode()
        if not retry:
            self.reconnect()
        for attempt in range(2 if retry else 1):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError):
                if attempt or not retry:
                    raise
                self.reconnect()
        raise AssertionError("unreachable")

    def reconnect(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def next_label(self, exclude=()) -> int | None:
        query = "&".join(["queue=gate", "fragment=1", *(f"exclude={x}" for x in exclude)])
        status, html = self.request("GET", f"{reverse('review-next')}?{query}")
        if status == 204:
            return None
        assert status == 200, (status, html[:300])
        return int(html.decode().split('data-label="', 1)[1].split('"', 1)[0])

    def verdict(self, label_id: int, body: dict) -> tuple[int, dict]:
        status, data = self.request("POST", reverse("review-verdict", args=[label_id]), body)
        return status, json.loads(data or b"{}")


def _sessions(django_user_model, n: int) -> list[tuple]:
    out = []
    for i in range(n):
        user = django_user_model.objects.create_user(f"rev{i}", password="pw-load-123")
        c = Client()
        c.force_login(user)
        out.append((user, c.cookies["sessionid"].value))
    return out


def test_four_reviewers_lose_nothing_and_store_nothing_twice(live_server, django_user_model):
    make_labels(LABELS)
    sessions = _sessions(django_user_model, REVIEWERS)
    acked: dict[str, tuple] = {}  # token -> (reviewer index, label, verdict) answered 200 and not undone
    undone: list[str] = []
    served = defaultdict(list)  # label -> [(reviewer, time served, time its verdict was sent)]
    statuses = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(REVIEWERS)

    def reviewer(i: int):
        rng = random.Random(i)
        b = Browser(live_server.url, sessions[i][1])
        mine: list[str] = []  # this reviewer's acknowledged tokens, latest last
        try:
            start.wait()
            while True:
                label = b.next_label()
                if label is None:
                    return
                got = time.monotonic()
                roll = rng.random()
                # Two reviewers skip now and then, so a label is never skipped by everyone.
                verdict = "skip" if roll < 0.12 and i < 2 else "reject" if roll < 0.3 else "accept"
                body = {"verdict": verdict, "seconds": 1.5, "token": uuid.uuid4().hex}
                if verdict == "reject":
                    body["reasons"] = ["grouping"]
                sent = time.monotonic()
                if rng.random() < 0.15:
                    # The same verdict twice at the same moment (a retry racing the first send).
                    twin = Browser(live_server.url, sessions[i][1])
                    answers = []
                    t = threading.Thread(target=lambda a=answers, w=twin, lb=label, bd=body: a.append(w.verdict(lb, bd)))
                    t.start()
                    answers.append(b.verdict(label, body))
                    t.join(60)
                else:
                    answers = [b.verdict(label, body)]
                with lock:
                    for status, data in answers:
                        statuses[status] += 1
                        statuses["repeat"] += bool(data.get("repeat"))
                        if status != 200:
                            errors.append(f"rev{i} label {label}: {status} {data}")
                    served[label].append((i, got, sent))
                    if any(s == 200 for s, _ in answers):
                        acked[body["token"]] = (i, label, verdict)
                        mine.append(body["token"])
                if mine and rng.random() < 0.08:
                    status, data = b.request("POST", reverse("review-undo"), retry=False)
                    data = json.loads(data)
                    with lock:
                        statuses[f"undo {status}"] += 1
                        if status != 200 or data["label"] != acked[mine[-1]][1]:
                            errors.append(f"rev{i} undo: {status} {data}")
                        else:
                            undone.append(mine[-1])
                            del acked[mine.pop()]
        except Exception as exc:  # reported below with the reviewer's name
            with lock:
                errors.append(f"rev{i}: {exc!r}")

    began = time.monotonic()
    threads = [threading.Thread(target=reviewer, args=(i,)) for i in range(REVIEWERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - began
    assert not any(t.is_alive() for t in threads), "a reviewer thread hung"
    assert not errors, errors[:5]

    rows = list(Review.objects.values_list("token", "reviewer__username", "label_id", "verdict"))
    # 0 lost, 0 duplicates: the stored rows are exactly the acknowledged, not undone verdicts.
    assert Counter(t for t, *_ in rows).most_common(1)[0][1] == 1
    assert {t: (f"rev{i}", label, v) for t, (i, label, v) in acked.items()} == {t: (u, la, v) for t, u, la, v in rows}
    assert not set(undone) & {t for t, *_ in rows}
    # 0 double-served: no label was held by two reviewers at overlapping times ...
    for label, spans in served.items():
        spans.sort(key=lambda s: s[1])
        for (ri, _, end), (rj, begin, _) in zip(spans, spans[1:]):
            assert ri == rj or begin >= end, f"label {label} served to rev{ri} and rev{rj} at once"
    # ... and in the gate queue no label counts a verdict from two reviewers.
    per_label = Review.objects.exclude(verdict="skip").values("label_id").annotate(
        n=Count("reviewer", distinct=True))
    assert all(r["n"] == 1 for r in per_label)
    # Every label got its verdict (skipped ones by someone else), and the counts agree with the rows.
    assert ReviewItem.objects.filter(verdict="").count() == 0
    _assert_counts_match_reviews()
    # Each kind of request really happened: verdicts, recognized repeats, undos.
    assert statuses[200] >= LABELS and statuses["repeat"] >= 5 and statuses["undo 200"] >= 5, statuses
    assert elapsed < 60, (statuses, elapsed)


def test_simultaneous_verdicts_on_one_label_count_every_reviewer(live_server, django_user_model):
    """The n_reviewers race: four verdicts on each free label at the same moment."""
    labels = make_labels(6)
    sessions = _sessions(django_user_model, REVIEWERS)
    browsers = [Browser(live_server.url, s) for _, s in sessions]
    answers, errors = [], []
    for label in labels:
        barrier = threading.Barrier(REVIEWERS)

        def send(i, label_id=label.pk, barrier=barrier):
            try:
                barrier.wait()
                answers.append(browsers[i].verdict(label_id, {"verdict": "accept", "token": uuid.uuid4().hex}))
            except Exception as exc:  # reported below
                errors.append(repr(exc))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(REVIEWERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors and [s for s, _ in answers] == [200] * (REVIEWERS * len(labels))
    assert set(ReviewItem.objects.values_list("n_reviewers", flat=True)) == {REVIEWERS}
    _assert_counts_match_reviews()


def _assert_counts_match_reviews():
    for item in ReviewItem.objects.all():
        counted = Review.objects.filter(label_id=item.pk).exclude(verdict="skip").order_by("id")
        latest = counted.last()
        assert item.n_reviewers == counted.values("reviewer").distinct().count(), item.pk
        assert item.verdict == (latest.verdict if latest else ""), item.pk
