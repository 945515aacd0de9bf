"""The hunk-level group editor in Chromium, keyboard only: a reviewer moves two hunks (splitting
src/app.py across commits), skips the junk hunk, reorders two commits, undoes one edit and saves;
the stored human revision is exactly that. Moving a hunk is timed with the Performance API."""
import pytest
from django.urls import reverse

from labeling.models import Label, Review
from tests.conftest import BROWSER_TEST, browser_login, wait_for
from tests.hunk_editor_data import hunk_label

pytestmark = BROWSER_TEST

HUNK_CLASS = "(id) => document.querySelector(`#hunk-pane .hunk[data-hunk='${id}']`).className"


@pytest.fixture
def ann(django_user_model):
    return django_user_model.objects.create_user("ann", password="pw-ann-123")


def test_a_reviewer_corrects_a_label_hunk_by_hunk_with_the_keyboard(page, live_server, ann):
    label = hunk_label()
    browser_login(page, live_server, "ann", "pw-ann-123")
    page.goto(f"{live_server.url}{reverse('review-item', args=[label.pk])}")
    page.wait_for_selector(f'#review-item[data-label="{label.pk}"]')
    keys = page.keyboard.press
    keys("g")
    page.wait_for_selector("#hunk-editor:not([hidden])")
    assert "tint-0" in page.evaluate(HUNK_CLASS, "src/app.py::2")
    assert "junk (injected)" in page.inner_text("#hunk-pane .hunk[data-hunk='debug.log::1']")

    for key in ("j", "j", "4"):  # src/app.py::2 opens a new commit 4: the file is now split
        keys(key)
    assert "tint-3" in page.evaluate(HUNK_CLASS, "src/app.py::2")
    assert "file-split" in page.evaluate(HUNK_CLASS, "src/app.py::1")
    for key in ("j", "j", "4"):  # src/util.py::1 joins it
        keys(key)
    for key in ("j", "j", "-"):  # the junk hunk is skipped
        keys(key)
    assert "skipped" in page.evaluate(HUNK_CLASS, "debug.log::1")
    assert "every hunk is in exactly one commit or skipped" in page.inner_text("#hunk-coverage")
    keys("1")  # a mistake: the junk hunk into commit 1 ...
    assert "tint-0" in page.evaluate(HUNK_CLASS, "debug.log::1")
    keys("z")  # ... undone
    assert "skipped" in page.evaluate(HUNK_CLASS, "debug.log::1")
    for key in ("j", "["):  # wraps to README.md::1: its docs commit moves before the feature
        keys(key)
    for key in ("j", "j", "e"):  # src/app.py::2: describe the new commit
        keys(key)
    page.keyboard.type("extract the helper")
    keys("Enter")
    keys("Control+Enter")

    wait_for(lambda: Review.objects.filter(label=label).exists(), message="the correction to be stored")
    review = Review.objects.get(label=label)
    assert review.verdict == "correct"
    revision = Label.objects.get(pk=review.correction_id)
    assert [(c["subject"], c["hunks"], c["files"]) for c in revision.commits] == [
        ("docs(readme): describe them", ["README.md::1"], ["README.md"]),
        ("feat(app): add the new code paths", ["src/app.py::1", "src/app.py::3", "src/util.py::2"],
         ["src/app.py", "src/util.py"]),
        ("feat(app): extract the helper", ["src/app.py::2", "src/util.py::1"], ["src/app.py", "src/util.py"]),
    ]
    skipped = revision.skipped_hunks
    assert skipped == ["debug.log::1"]


def test_saving_with_a_hunk_in_no_commit_is_refused_naming_it(page, live_server, ann):
    label = hunk_label()
    browser_login(page, live_server, "ann", "pw-ann-123")
    page.goto(f"{live_server.url}{reverse('review-item', args=[label.pk])}")
    page.wait_for_selector(f'#review-item[data-label="{label.pk}"]')
    for key in ("g", "k", "-", "-"):  # skipped, then not: debug.log::1 is in no commit
        page.keyboard.press(key)
    assert "1 hunk in no commit and not skipped: debug.log::1" in page.inner_text("#hunk-coverage")
    page.keyboard.press("Control+Enter")
    assert "not saved: hunks in no commit and not skipped: debug.log::1" in page.inner_text("#review-status")
    assert not Review.objects.filter(label=label).exists()


def test_whole_file_moves_split_merge_and_reorder_from_the_keyboard(page, live_server, ann):
    label = hunk_label()
    browser_login(page, live_server, "ann", "pw-ann-123")
    page.goto(f"{live_server.url}{reverse('review-item', args=[label.pk])}")
    page.wait_for_selector(f'#review-item[data-label="{label.pk}"]')
    for key in ("g", "j", "Shift+Digit2"):  # every hunk of src/app.py into the docs commit
        page.keyboard.press(key)
    commits = "() => Array.from(document.querySelectorAll('#hunk-editor .hunk-commits .hids')).map(x => x.textContent)"
    assert page.evaluate(commits) == ["src/util.py::1 src/util.py::2", "README.md::1 src/app.py::1 src/app.py::2 "
                                      "src/app.py::3", "debug.log::1"]
    for key in ("j", "s"):  # split the docs commit at src/app.py::2
        page.keyboard.press(key)
    assert page.evaluate(commits)[1:3] == ["README.md::1 src/app.py::1", "src/app.py::2 src/app.py::3"]
    page.keyboard.press("m")  # and merge it back
    assert page.evaluate(commits)[1] == "README.md::1 src/app.py::1 src/app.py::2 src/app.py::3"
    page.keyboard.press("Alt+ArrowDown")  # the docs commit after the chore one
    assert page.evaluate(commits) == ["src/util.py::1 src/util.py::2", "debug.log::1",
                                      "README.md::1 src/app.py::1 src/app.py::2 src/app.py::3"]
    assert page.evaluate("() => performance.getEntriesByName('hunk-move').length") == 1
    page.keyboard.press("Control+Enter")
    wait_for(lambda: Review.objects.filter(label=label).exists(), message="the correction to be stored")
    revision = Label.objects.get(pk=Review.objects.get(label=label).correction_id)
    assert [c["subject"] for c in revision.commits] == [
        "feat(app): add the new code paths", "chore: add a log", "docs(readme): describe them"]
    assert revision.commits[2]["files"] == ["README.md", "src/app.py"]


def test_correcting_a_hunk_level_label_opens_the_hunk_editor(page, live_server, ann):
    label = hunk_label()
    label.commits = [{**c, "hunks": ids} for c, ids in zip(label.commits, (
        ["src/app.py::1", "src/app.py::2", "src/app.py::3", "src/util.py::1", "src/util.py::2"], ["README.md::1"],
        ["debug.log::1"]))]
    label.save()
    browser_login(page, live_server, "ann", "pw-ann-123")
    page.goto(f"{live_server.url}{reverse('review-item', args=[label.pk])}")
    page.wait_for_selector(f'#review-item[data-label="{label.pk}"]')
    page.keyboard.press("c")
    page.wait_for_selector("#hunk-editor:not([hidden])")
    assert page.is_hidden("#editor")
