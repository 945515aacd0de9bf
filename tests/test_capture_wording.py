"""A captured version's own wording for the first user message (issue 13 item 2).

The tool's stat line for lockfiles, its untracked and binary texts and its headings reach
the student from the capture, not from gsctune: ``check.captured_texts`` reads them where
they read unambiguously, ``ProtocolVersion.to_spec()`` renders with them and the check says
"captured wording used"; elsewhere gsctune's wording stays, and the check says why.

The client below plays the tool over the capture endpoint with a first message in the
tool's layout and gsctune's own invented words (never the tool's sentences); the expected
renderings are written out here from that wording, not taken from gsctune's renderer.
"""
from __future__ import annotations

import httpx
import pytest

from gsctune.domain.hunks import TEXTS, example_hunks, render_user_turn
from gsctune.domain.protocol import ToolSession
from labeling.protocol.check import CAPTURED_WORDING, GSCTUNE_WORDING, MISMATCH, OK, captured_texts, check_version
from labeling.protocol.run import serve_capture
from labeling.protocol.store import capture_summary, protocol_from_capture, store_capture
from tests.test_protocol_renderer_check import SYSTEM, TOOLS, accepted, by_part, duplicate, patch, rejection, unknown
from tests.tool_client import play_loop, tool_like_answer

LIST_HEADING, DIFF_HEADING = "Hunks in the wording test:", "What the wording test changed:"
UNTRACKED_TAG, UNTRACKED_BODY = "<untracked: wording test>", "<new in the wording test, content not shown>"
BINARY_TAG, BINARY_BODY = "<binary: wording test>", "<bytes the wording test does not show>"


def lock_line(added: int, deleted: int) -> str:
    """The test's stat line for a lockfile; the braces must survive ``str.format``."""
    return f"{{wording test}} lock data not shown: +{added}/-{deleted} lines changed"


# (id, list line tag, section body)
HUNKS = [
    ("src/app.py::1", "(+1/-1)", patch("src/app.py", 1)),
    ("web/package-lock.json::1", "(+12/-3)", lock_line(12, 3)),
    ("Cargo.lock::1", "(+4/-4)", lock_line(4, 4)),
    ("img/logo.png::1", BINARY_TAG, BINARY_BODY),
    ("new_module.py::1", UNTRACKED_TAG, UNTRACKED_BODY),
]


def tool_turn(hunks=HUNKS, list_heading: str = LIST_HEADING, diff_heading: str = DIFF_HEADING) -> str:
    listing = "\n".join(f"  {h}  {tag}" for h, tag, _ in hunks)
    return (f"{list_heading}\n{listing}\n\n{diff_heading}\n"
            + "\n\n".join(f"--- {h} ---\n{body}" for h, _, body in hunks))


def play(api_base: str, turn: str) -> None:
    """The tool's side: model lookup, then the loop, answering each move as the tool does."""
    root = api_base.removesuffix("/v1")
    ids = {line.split()[0] for line in turn.split("\n\n")[0].splitlines()[1:]}
    with httpx.Client(timeout=10) as http:
        http.get(f"{root}/props")
        http.get(f"{api_base}/models")
        play_loop(http, api_base, SYSTEM, turn, TOOLS, tool_like_answer(ids, accepted, unknown, duplicate, rejection))


def capture(turn: str) -> dict:
    result, finished = serve_capture(port=0, model="capture", timeout_s=10, grace_s=0.2,
                                     on_ready=lambda server: play(server.api_base, turn))
    assert finished
    return result


def harvested() -> str:
    """A harvested diff with a lockfile (other numbers than the capture's), a binary and a new file."""
    lock = "".join(f"+dep {i}\n" for i in range(7)) + "-old dep\n-older dep\n"
    return (f"diff --git a/app/yarn.lock b/app/yarn.lock\nindex 1111111..2222222 100644\n--- a/app/yarn.lock\n"
            f"+++ b/app/yarn.lock\n@@ -1,2 +1,7 @@\n{lock}"
            "diff --git a/art.bin b/art.bin\nindex 1111111..2222222 100644\nBinary files a/art.bin and b/art.bin differ\n"
            "diff --git a/fresh.py b/fresh.py\nnew file mode 100644\nindex 0000000..3333333\n--- /dev/null\n"
            "+++ b/fresh.py\n@@ -0,0 +1 @@\n+print('fresh')\n")


@pytest.mark.django_db
def test_a_captured_version_renders_the_first_message_with_the_tools_wording():
    version, _, _ = store_capture(capture(tool_turn()))
    texts = version.to_spec().user_turn
    assert (texts.hunks_heading, texts.diff_heading) == (LIST_HEADING, DIFF_HEADING)
    assert (texts.untracked_tag, texts.untracked_body) == (UNTRACKED_TAG, UNTRACKED_BODY)
    assert (texts.binary_tag, texts.binary_body) == (BINARY_TAG, BINARY_BODY)
    # What gsctune cannot read from a capture stays its own.
    assert (texts.truncated_body, texts.omitted) == (TEXTS.truncated_body, TEXTS.omitted)

    # The export's first message for another example: the lockfile's own +A/-D, the tool's words.
    hunks = example_hunks(harvested())
    message = ToolSession.for_hunks(hunks, version.to_spec()).messages[1]["content"]
    assert message == (f"{LIST_HEADING}\n  app/yarn.lock::1  (+7/-2)\n  art.bin::1  {BINARY_TAG}\n"
                       f"  fresh.py::1  {UNTRACKED_TAG}\n\n{DIFF_HEADING}\n--- app/yarn.lock::1 ---\n{lock_line(7, 2)}"
                       f"\n\n--- art.bin::1 ---\n{BINARY_BODY}\n\n--- fresh.py::1 ---\n{UNTRACKED_BODY}")

    check = version.renderer_check()
    assert check.mismatches == [] and check.status == OK
    parts = by_part(check)
    for part in ("headings", "untracked file", "binary file", "lockfile section"):
        [finding] = parts[f"user turn wording: {part}"]
        assert finding.status == CAPTURED_WORDING, part
    assert parts["user turn wording: lockfile section"][0].captured == lock_line(12, 3).replace(
        "{", "{{").replace("}", "}}").replace("+12", "+{added}").replace("-3 ", "-{deleted} ")
    assert [f.status for f in parts["user turn: lockfile"]] == [OK]
    assert "    captured wording used: user turn wording: lockfile section: " in capture_summary(version)


@pytest.mark.django_db
def test_the_built_in_wording_is_what_a_builtin_version_and_gsctunes_own_rendering_use():
    version, _, _ = store_capture(capture(tool_turn()), source="builtin")
    assert version.to_spec().user_turn == TEXTS
    assert "[generated or lock file, diff not shown] +7/-2 lines" in render_user_turn(example_hunks(harvested()))


def _with(hunks=HUNKS, **headings) -> dict:
    data = protocol_from_capture(capture(tool_turn()))
    return {**data, "user_turn": tool_turn(hunks, **headings), "user_layout": None}


def _swap(hunk_id: str, tag: str | None = None, body: str | None = None):
    return [(h, tag if h == hunk_id and tag is not None else t, body if h == hunk_id and body is not None else b)
            for h, t, b in HUNKS]


@pytest.mark.django_db
@pytest.mark.parametrize("hunks, why", [
    (_swap("web/package-lock.json::1", body="+12 of +12/-3 lines, wording test"), "exactly once each"),
    (_swap("web/package-lock.json::1", body=patch("web/package-lock.json", 1)), "is not a stat line"),
    (_swap("Cargo.lock::1", body="wording test, other stat form: +4/-4"), "do not share one stat line"),
], ids=["numbers-twice", "a-patch", "two-forms"])
def test_a_lockfile_wording_that_does_not_read_unambiguously_stays_gsctunes_and_is_a_mismatch(hunks, why):
    data = _with(hunks)
    texts, _ = captured_texts(data)
    assert texts.lockfile_body == TEXTS.lockfile_body
    assert (texts.binary_tag, texts.untracked_body) == (BINARY_TAG, UNTRACKED_BODY)  # the rest still derived
    parts = by_part(check_version(data))
    [wording] = parts["user turn wording: lockfile section"]
    assert wording.status == GSCTUNE_WORDING and why in wording.message
    assert MISMATCH in {f.status for f in parts["user turn: lockfile (section)"]}


@pytest.mark.django_db
@pytest.mark.parametrize("hunks, why", [
    ([h for h in HUNKS if h[0] != "img/logo.png::1"], "cannot be told"),
    ([*HUNKS[:3], ("a_new.py::1", UNTRACKED_TAG, UNTRACKED_BODY), *HUNKS[3:]], "not in the tool's order"),
    (_swap("new_module.py::1", body="<new_module.py: new in the wording test>"), "names its file"),
], ids=["one-unknown-form", "binary-after-untracked", "names-the-file"])
def test_untracked_and_binary_forms_that_cannot_be_told_apart_keep_gsctunes_wording(hunks, why):
    data = _with(hunks)
    texts, _ = captured_texts(data)
    assert (texts.untracked_tag, texts.untracked_body) == (TEXTS.untracked_tag, TEXTS.untracked_body)
    assert texts.lockfile_body != TEXTS.lockfile_body  # the lockfile still reads unambiguously
    parts = by_part(check_version(data))
    [wording] = parts["user turn wording: untracked file"]
    assert wording.status == GSCTUNE_WORDING and why in wording.message
    assert any(f.part.startswith("user turn: ") for f in check_version(data).mismatches)


@pytest.mark.django_db
def test_one_form_shared_with_gsctunes_untracked_text_is_the_untracked_files():
    hunks = [HUNKS[0], ("fresh.txt::1", TEXTS.untracked_tag, UNTRACKED_BODY)]
    texts, findings = captured_texts(_with(hunks))
    assert (texts.untracked_tag, texts.untracked_body) == (TEXTS.untracked_tag, UNTRACKED_BODY)
    # Cases the capture's repository lacks keep gsctune's wording, and the finding says so plainly.
    assert (texts.binary_body, texts.lockfile_body) == (TEXTS.binary_body, TEXTS.lockfile_body)
    said = {f.part: (f.status, f.message) for f in findings}
    assert said["user turn wording: lockfile section"] == (
        GSCTUNE_WORDING, "gsctune's wording stays for the lockfile section: the capture shows no lockfile.")
    assert said["user turn wording: binary file"][1].endswith(": the capture shows no hunk of this case.")


@pytest.mark.django_db
def test_a_heading_over_two_lines_is_not_taken():
    data = _with(list_heading="Hunks in the\nwording test:")
    texts, _ = captured_texts(data)
    assert (texts.hunks_heading, texts.diff_heading) == (TEXTS.hunks_heading, TEXTS.diff_heading)
    [wording] = by_part(check_version(data))["user turn wording: headings"]
    assert wording.status == GSCTUNE_WORDING and "not one line" in wording.message
