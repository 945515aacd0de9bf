"""Keyboard-only review in Chromium against a live server, and inert rendering of hostile text."""

import re

import pytest
from django.urls import reverse

from labeling.models import Label, Review, ReviewItem
from tests.conftest import BROWSER_TEST, browser_login, wait_for
from tests.factories import make_example, make_label, make_labels

pytestmark = BROWSER_TEST


@pytest.fixture
def reviewer(django_user_model):
    return django_user_model.objects.create_user("ann", password="pw-ann-123")


def wait_item(page, pk):
    page.wait_for_selector(f'#review-item[data-label="{pk}"]', timeout=10_000)


def test_keyboard_only_review_then_gate_shows_those_verdicts(page, live_server, reviewer):
    make_labels(4)
    order = list(ReviewItem.objects.order_by("gate_rank", "label_id").values_list("pk", flat=True))
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    browser_login(page, live_server, "ann", "pw-ann-123")

    page.goto(f"{live_server.url}{reverse('review-queue')}?queue=gate")
    page.keyboard.press("Enter")  # start reviewing
    wait_item(page, order[0])
    page.keyboard.press("a")  # accept

    wait_item(page, order[1])
    page.keyboard.press("r")  # reject, then reasons 1 (grouping) and 3 (hallucination)
    page.keyboard.press("1")
    page.keyboard.press("3")
    page.keyboard.press("Enter")

    wait_item(page, order[2])
    page.keyboard.press("c")  # correct: the first description is focused and selected
    page.keyboard.type("load settings from disk")
    page.keyboard.press("Tab")  # body
    page.keyboard.press("Tab")  # first file of commit 1 (src/app.py)
    assert page.evaluate("document.activeElement.dataset.path") == "src/app.py"
    page.keyboard.press("2")  # move it to commit 2
    page.keyboard.press("Control+Enter")

    wait_item(page, order[3])
    page.keyboard.press("a")  # a fourth verdict ...
    page.wait_for_selector("#review-empty:not([hidden])")
    wait_for(lambda: Review.objects.count() == 4, message="four verdicts stored")
    page.keyboard.press("u")  # ... undone
    page.wait_for_url(re.compile(rf"/review/{order[3]}/"))
    wait_item(page, order[3])

    reviews = {r.label_id: r for r in Review.objects.all()}
    assert set(reviews) == set(order[:3])
    assert reviews[order[0]].verdict == "accept"
    assert (reviews[order[1]].verdict, reviews[order[1]].reasons) == ("reject", ["grouping", "hallucination"])
    correction = reviews[order[2]].correction
    assert reviews[order[2]].verdict == "correct" and correction.revision_of_id == order[2]
    assert correction.source == Label.Source.HUMAN
    assert correction.commits[0]["subject"] == "feat(config): load settings from disk"
    assert correction.commits[0]["files"] == ["tests/test_app.py"]
    assert correction.commits[1]["files"] == ["README.md", "src/app.py"]
    assert all(r.reviewer == reviewer and r.seconds_spent > 0 for r in reviews.values())

    page.goto(f"{live_server.url}{reverse('review-gate')}")
    cell = lambda stat: page.inner_text(f'#gate-table td[data-stat="{stat}"]').strip()  # noqa: E731
    assert cell("labeled") == "4"
    assert cell("reviewed") == "3"
    assert (cell("accepted"), cell("rejected"), cell("corrected")) == ("1", "1", "1")
    assert cell("reasons").splitlines() == ["Wrong grouping: 1", "Hallucinated content: 1"]
    assert cell("rate").startswith("0.33")
    assert dialogs == []


PAYLOADS = ['<script>alert("s")</script>', '"><img src=x onerror=alert("i")>', "' onmouseover='alert(1)' x='"]


def hostile_label(n):
    name = 'src/"><img src=x onerror=alert(9)>.py'
    diff = (
        f"diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n@@ -1 +1,3 @@\n"
        f"-old\n+{PAYLOADS[0]}\n+{PAYLOADS[1]}\n+{PAYLOADS[2]}\n"
    )
    example = make_example(n, diff=diff, files=[name])
    example.original_commits = [{"sha": "c" * 40, "subject": PAYLOADS[1], "files": [name]}]
    example.save()
    return make_label(example, model=PAYLOADS[0], commits=[{
        "subject": f"feat(<b>x</b>): {PAYLOADS[0]}",
        "files": [name],
        "body": f"{PAYLOADS[1]}\n{PAYLOADS[2]}",
        "issues": [{"message": PAYLOADS[0], "path": name}],
    }], gitignore=[PAYLOADS[1]])


def test_hostile_text_renders_inert(page, live_server, reviewer):
    first = make_labels(1)[0]
    bad = hostile_label(50)
    ReviewItem.objects.filter(pk=first.pk).update(gate_rank=0.0)
    ReviewItem.objects.filter(pk=bad.pk).update(gate_rank=0.5)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    browser_login(page, live_server, "ann", "pw-ann-123")

    # Swapped in by the prefetch (innerHTML) ...
    page.goto(f"{live_server.url}{reverse('review-next')}")
    wait_item(page, first.pk)
    page.keyboard.press("a")
    wait_item(page, bad.pk)
    page.keyboard.press("o")  # original commits (hostile subject)
    page.keyboard.press("r")
    page.keyboard.press("c")
    checks = [(page, "swapped")]
    # ... and loaded as a page of its own.
    direct = page.context.new_page()
    direct.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    direct.goto(f"{live_server.url}{reverse('review-item', args=[bad.pk])}")
    direct.keyboard.press("o")
    checks.append((direct, "direct"))
    for p, _ in checks:
        p.hover("#review-item .review-commit")
        text = p.inner_text("#review-item")
        for payload in PAYLOADS:
            assert payload in text
        assert 'src/"><img src=x onerror=alert(9)>.py' in text
        assert "feat(<b>x</b>)" in text
        assert p.locator("#review-item img, #review-item script").count() == 0
    for url in (reverse("review-queue"), reverse("review-gate")):
        direct.goto(f"{live_server.url}{url}")
        assert PAYLOADS[0] in direct.inner_text("main")
    direct.wait_for_timeout(300)
    assert dialogs == []
