"""The correction editor in Chromium: saved unchanged it stores the teacher's label, and it fits the
side pane at 1280 and 1440 px wide."""


import pytest
from django.urls import reverse

from labeling.models import Review
from tests.conftest import BROWSER_TEST, browser_login, wait_for
from tests.test_correction_roundtrip import ROUND_TRIP_COMMITS, ROUND_TRIP_GITIGNORE, round_trip_label

pytestmark = BROWSER_TEST

# Every field of every commit: its right edge inside the editor card, and wide enough to read.
FIT = """() => {
  const card = document.querySelector('#editor').getBoundingClientRect();
  return Array.from(document.querySelectorAll('#editor .edit-commits [name]')).map(el => {
    const r = el.getBoundingClientRect();
    return {name: el.name, left: r.left - card.left, right: card.right - r.right, width: r.width,
            clipped: el.scrollWidth > el.clientWidth + 1 && el.tagName === 'INPUT' && el.name === 'description'};
  });
}"""


@pytest.fixture
def ann(django_user_model):
    return django_user_model.objects.create_user("ann", password="pw-ann-123")


def test_unchanged_correction_in_the_browser_equals_the_teachers_label(page, live_server, ann):
    label = round_trip_label()
    browser_login(page, live_server, "ann", "pw-ann-123")
    page.goto(f"{live_server.url}{reverse('review-item', args=[label.pk])}")
    page.wait_for_selector(f'#review-item[data-label="{label.pk}"]')
    page.keyboard.press("c")
    page.wait_for_selector("#editor:not([hidden])")
    page.keyboard.press("Control+Enter")
    wait_for(lambda: Review.objects.filter(label=label).exists(), message="the correction to be stored")
    review = Review.objects.get(label=label)
    assert review.verdict == "correct" and review.token  # review.js sent its token
    assert review.correction.commits == ROUND_TRIP_COMMITS
    assert review.correction.gitignore == ROUND_TRIP_GITIGNORE


@pytest.mark.parametrize("width", [1280, 1440])
def test_correction_editor_fits_the_side_pane(page, live_server, ann, width):
    label = round_trip_label()
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, live_server, "ann", "pw-ann-123")
    page.goto(f"{live_server.url}{reverse('review-item', args=[label.pk])}")
    page.wait_for_selector(f'#review-item[data-label="{label.pk}"]')
    page.keyboard.press("c")
    page.wait_for_selector("#editor:not([hidden])")
    fields = page.evaluate(FIT)
    assert {f["name"] for f in fields} == {"type", "scope", "breaking", "description", "body"}
    for f in fields:
        assert f["left"] >= 0 and f["right"] >= 0, f  # nothing sticks out of the card (cut off by the pane)
    descriptions = [f for f in fields if f["name"] == "description"]
    assert all(f["width"] >= 300 for f in descriptions), descriptions
    # "rename load_config to read_config" and the others show whole at both widths.
    assert not any(f["clipped"] for f in descriptions), descriptions
    # Each commit shows the subject it will save, and follows edits.
    previews = page.locator("#editor .edit-commits .subject-preview code")
    assert previews.all_inner_texts() == [c["subject"] for c in ROUND_TRIP_COMMITS]
    page.locator("#editor .edit-commits [name=breaking]").first.uncheck()
    page.locator("#editor .edit-commits [name=scope]").nth(2).fill("")
    assert previews.all_inner_texts()[0] == "feat(api): drop the v1 endpoints"
    assert previews.all_inner_texts()[2] == 'security: pin "requests" <2.32 & co'
