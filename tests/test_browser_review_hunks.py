"""The hunk-level group editor in Chromium, keyboard only: a reviewer moves two hunks (splitting
src/app.py across commits), skips the junk hunk, reorders two commits, undoes one edit and saves;
the stored human revision is exactly that, and its git-smart-commit export is the conversation the
tool would hold with a model that answers it perfectly. Moving a hunk is timed with the Performance API."""
import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from gsctune.domain.protocol import BUILTIN
from labeling.models import Label, Review
from tests.conftest import BROWSER_TEST, browser_login, wait_for
from tests.hunk_editor_data import DIFF, HUNKS, NOISE, hunk_label

pytestmark = BROWSER_TEST

HUNK_CLASS = "(id) => document.querySelector(`#hunk-pane .hunk[data-hunk='${id}']`).className"


@pytest.fixture
def ann(django_user_model):
    return django_user_model.objects.create_user("ann", password="pw-ann-123")


def test_a_reviewer_corrects_a_label_hunk_by_hunk_with_the_keyboard(page, live_server, ann, tmp_path):
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

    out = tmp_path / "export"
    call_command("export_sft", "--out", str(out), "--target", "git-smart-commit", "--protocol-version", "builtin",
                 stdout=io.StringIO(), stderr=io.StringIO())
    lines = [line for name in ("train.jsonl", "val.jsonl")
             for line in (out / name).read_text(encoding="utf-8").splitlines()]
    # The one example, as the corrected revision (a correction weighs 2 in train: two equal rows).
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [(r["label_id"], r["verdict"]) for r in manifest["records"]] == [(revision.pk, "corrected")]
    assert len(lines) == manifest["counts"]["train_rows"] + manifest["counts"]["val_rows"] and len(set(lines)) == 1
    assert _decoded(json.loads(lines[0])) == expected_conversation(revision)


def _tool_hunks(diff: str) -> list[tuple[str, str]]:
    """(id, patch) per hunk as PROTOCOL.md says the tool splits a diff: each ``@@`` starts a hunk that
    carries the file's header lines; a new file is untracked (no patch). Enough for this example's diff."""
    tracked, untracked = [], []
    for section in ("\n" + diff).split("\ndiff --git ")[1:]:
        header, *bodies = ("diff --git " + section + "\n").split("\n@@")
        path = header.split("\n")[0].split(" b/", 1)[1]
        if "\nnew file mode" in header:
            untracked.append((f"{path}::1", ""))
            continue
        tracked += [(f"{path}::{n}", f"{header}\n@@{body}".rstrip("\n") + "\n") for n, body in enumerate(bodies, 1)]
    return sorted(tracked, key=lambda h: h[0].split("::")[0]) + untracked


def expected_conversation(revision: Label) -> dict:
    """The tool's conversation for the corrected commits, written from PROTOCOL.md's formats: the hunk
    list and diff sections, one emit_commit per commit (in order) answered with the remaining hunks
    sorted, then finalize_commits with the skipped hunk (accepted: the tool adds nothing after it)."""
    hunks = _tool_hunks(DIFF + NOISE)
    assert [hid for hid, _ in hunks] == HUNKS
    listing = [f"  {hid}  (new untracked file)" if not patch else f"  {hid}  (+1/-1)" for hid, patch in hunks]
    sections = [f"--- {hid} ---\n" + (patch or "(new untracked file — no diff)") for hid, patch in hunks]
    user = "Available hunks:\n" + "\n".join(listing) + "\n\nDiff content:\n" + "\n\n".join(sections)
    messages = [{"role": "system", "content": BUILTIN.system_prompt}, {"role": "user", "content": user}]
    left = {hid for hid, _ in hunks}

    def call(n: int, name: str, arguments: dict) -> dict:
        return {"role": "assistant", "content": "", "tool_calls": [
            {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": arguments}}]}

    for n, commit in enumerate(revision.commits, 1):
        messages.append(call(n, "emit_commit", {"commit": {
            "subject": commit["subject"], "hunks": commit["hunks"], "body": commit.get("body") or "",
            "breaking_change": commit.get("breaking_change") or "", "issues": commit.get("issues") or []}}))
        left -= set(commit["hunks"])
        remaining = "\n".join(f"- {hid}" for hid in sorted(left))
        messages.append({"role": "tool", "tool_call_id": f"call_{n}",
                         "content": f"Commit emitted: '{commit['subject']}'. Remaining unassigned hunks:\n{remaining}"})
    assert sorted(left) == ["debug.log::1"]
    messages.append(call(len(revision.commits) + 1, "finalize_commits",
                         {"gitignore": revision.gitignore, "skipped_hunks": ["debug.log::1"]}))
    return {"messages": messages, "tools": BUILTIN.tools}


def _decoded(row: dict) -> dict:
    """The row with each tool call's arguments read back from the JSON text they are stored as."""
    for message in row["messages"]:
        for tool_call in message.get("tool_calls") or ():
            assert isinstance(tool_call["function"]["arguments"], str)
            tool_call["function"]["arguments"] = json.loads(tool_call["function"]["arguments"])
    return row


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
