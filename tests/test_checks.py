"""Each automatic check: one label that trips it, one that does not."""

import time

import pytest

from gsctune.domain.checks import (
    CHECKS,
    CheckConfig,
    parse_subject,
    run_checks,
    unknown_identifiers,
)
from gsctune.domain.gitignore import is_ignored

DIFF = """\
diff --git a/src/httpx/_client.py b/src/httpx/_client.py
--- a/src/httpx/_client.py
+++ b/src/httpx/_client.py
@@ -1,3 +1,6 @@
+class AsyncClient:
+    def send_request(self, request):
+        return self._transport.handle_request(request)
diff --git a/README.md b/README.md
--- a/README.md
+++ b/README.md
@@ -1 +1 @@
-Old
+Docs for the client
"""
CHANGED = ["src/httpx/_client.py", "README.md"]


def commit(subject="feat(client): add request sending", files=("src/httpx/_client.py",), body="Adds send_request."):
    return {"subject": subject, "files": list(files), "body": body, "issues": []}


def good_label():
    return {
        "commits": [
            commit(),
            commit("docs(readme): describe the client", ["README.md"], "Describes AsyncClient in README.md."),
        ],
        "gitignore": ["*.log"],
    }


def names(findings):
    return [f.check for f in findings]


def run(label, **kw):
    kw.setdefault("changed_files", CHANGED)
    kw.setdefault("diff", DIFF)
    return run_checks(label, **kw)


def test_good_label_has_no_findings():
    assert run(good_label(), injected_files=["debug.log"]) == []


def test_every_check_is_registered_with_a_name_and_title():
    assert {c.name for c in CHECKS} == {
        "unknown_file", "dropped_file", "duplicate_file", "junk_committed", "subject_format",
        "subject_length", "type_repeated", "body_line_length", "body_lines", "unknown_identifier",
        "empty_commit",
    }
    assert all(c.title for c in CHECKS)


def test_unknown_file_trips():
    label = good_label()
    label["commits"][0]["files"].append("src/made_up.py")
    (f,) = [f for f in run(label) if f.check == "unknown_file"]
    assert (f.commit, f.path) == (0, "src/made_up.py")


def test_dropped_file_trips_and_gitignore_covers():
    label = good_label()
    label["commits"][1]["files"] = []
    label["commits"][1]["subject"] = "docs: x"
    assert ("dropped_file", "README.md") in [(f.check, f.path) for f in run(label)]
    # junk that is neither committed nor ignored is dropped too
    found = run(good_label(), injected_files=["tmp/cache.bin"])
    assert [(f.check, f.path) for f in found] == [("dropped_file", "tmp/cache.bin")]
    # a matching gitignore line (label's or the repository's) covers it
    assert run(good_label(), injected_files=["tmp/cache.bin"], existing_gitignore=["tmp/"]) == []


def test_duplicate_file_trips():
    label = good_label()
    label["commits"][1]["files"].append("src/httpx/_client.py")
    (f,) = [f for f in run(label) if f.check == "duplicate_file"]
    assert (f.commit, f.path) == (1, "src/httpx/_client.py")
    assert "commit 1" in f.message


def test_junk_committed_trips():
    label = good_label()
    label["commits"][0]["files"].append("debug.log")
    found = run(label, injected_files=["debug.log"])
    assert [(f.check, f.path) for f in found] == [("junk_committed", "debug.log")]


@pytest.mark.parametrize(
    "subject,message",
    [
        ("Add request sending", "form"),
        ("feat(client) add request sending", "form"),
        ("feature(client): add request sending", "unknown commit type"),
    ],
)
def test_subject_format_trips(subject, message):
    label = good_label()
    label["commits"][0]["subject"] = subject
    (f,) = [f for f in run(label) if f.check == "subject_format"]
    assert message in f.message and f.commit == 0


def test_subject_format_accepts_missing_scope_and_breaking_marker():
    label = good_label()
    label["commits"][0]["subject"] = "feat!: add request sending"
    assert run(label) == []
    assert "scope" in run(label, config=CheckConfig(require_scope=True))[0].message


def test_subject_length_trips_at_73_not_72():
    label = good_label()
    label["commits"][0]["subject"] = "feat(client): " + "a" * (72 - 14)
    assert run(label) == []
    label["commits"][0]["subject"] += "a"
    assert names(run(label)) == ["subject_length"]


def test_type_repeated_trips():
    label = good_label()
    label["commits"][0]["subject"] = "fix(client): fix request sending"
    assert names(run(label)) == ["type_repeated"]
    label["commits"][0]["subject"] = "fix(client): handle empty request"
    assert run(label) == []


def test_body_line_length_trips():
    label = good_label()
    label["commits"][0]["body"] = "x" * 80
    assert run(label) == []
    label["commits"][0]["body"] = "ok\n" + "x" * 81
    (f,) = run(label)
    assert f.check == "body_line_length" and "line 2" in f.message


def test_body_lines_out_of_range_and_configurable():
    label = good_label()
    label["commits"][0]["body"] = ""
    assert names(run(label)) == ["body_lines"]
    label["commits"][0]["body"] = "\n".join(["line"] * 11)
    assert names(run(label)) == ["body_lines"]
    assert run(label, config=CheckConfig(body_max_lines=12)) == []
    label["commits"][0]["body"] = "\n".join(["line"] * 10)
    assert run(label) == []


def test_unknown_identifier_trips_on_hallucinated_names():
    label = good_label()
    label["commits"][0]["body"] = "Adds send_request and retry_with_backoff to SyncTransport."
    (f,) = run(label)
    assert f.check == "unknown_identifier"
    assert "retry_with_backoff" in f.message and "SyncTransport" in f.message
    assert "send_request" not in f.message


def test_unknown_identifiers_rules():
    # plain words are not identifiers; CamelCase, snake_case, dotted and file names are
    assert unknown_identifiers("Improve the handling of requests", DIFF) == []
    assert unknown_identifiers("Uses AsyncClient.send_request", DIFF) == []
    # near-spellings count as present
    assert unknown_identifiers("send_requests in AsyncClients", DIFF) == []
    # a file name must be a real path or basename
    assert unknown_identifiers("Edits _client.py and httpx/_client.py", DIFF) == []
    assert unknown_identifiers("Edits client_utils.py", DIFF) == ["client_utils.py"]
    # dotted attribute chains pass when every part is in the diff
    assert unknown_identifiers("self._transport.handle_request", DIFF) == []
    assert unknown_identifiers("self.session.open_stream", DIFF) == ["self.session.open_stream"]
    # sentence punctuation and product names are not flagged
    assert unknown_identifiers("See the README. Works on GitHub, e.g. in CI.", DIFF) == []
    # unique, in order
    assert unknown_identifiers("FooBar foo_bar FooBar", DIFF) == ["FooBar", "foo_bar"]


def test_unknown_identifiers_is_fast_on_a_large_diff():
    big = "\n".join(f"+    value_{i} = compute_thing_{i}(ClassName{i}.attr_{i})" for i in range(3000))
    unknown_identifiers("warm", big)
    t = time.perf_counter()
    for _ in range(50):
        unknown_identifiers("Calls compute_thing_17 and made_up_helper on ClassName9.attr_9", big)
    assert (time.perf_counter() - t) / 50 < 0.02


def test_empty_commit_trips():
    label = good_label()
    label["commits"].append({"subject": "chore: nothing", "files": [], "body": "Nothing.", "issues": []})
    assert names(run(label)) == ["empty_commit"]


@pytest.mark.parametrize(
    "path,patterns,ignored",
    [
        ("debug.log", ["*.log"], True),
        ("a/b/debug.log", ["*.log"], True),
        ("a/b/debug.log", ["/*.log"], False),
        ("debug.log", ["/*.log"], True),
        ("build/out/x.o", ["build/"], True),
        ("src/build", ["build/"], False),  # a file named build is not a folder
        ("src/build/x", ["build/"], True),
        ("docs/_build/index.html", ["docs/_build"], True),
        ("x/docs/_build/index.html", ["docs/_build"], False),
        ("a/x/y/z.txt", ["a/**/z.txt"], True),
        ("a/z.txt", ["a/**/z.txt"], True),
        ("deep/node_modules/p/i.js", ["**/node_modules"], True),
        ("logs/a/b.txt", ["logs/**"], True),
        ("keep.log", ["*.log", "!keep.log"], False),
        ("file1.txt", ["file[0-9].txt"], True),
        ("fileA.txt", ["file[!0-9].txt"], True),
        ("a/b.txt", ["a*b.txt"], False),  # * does not cross /
        ("venv3/lib/x.py", ["venv*/"], True),
        ("#x", ["# comment", ""], False),
        ("#x", ["\\#x"], True),
    ],
)
def test_gitignore_matches(path, patterns, ignored):
    assert is_ignored(path, patterns) is ignored


def test_parse_subject():
    assert parse_subject("fix(cli): handle -h") == {"type": "fix", "scope": "cli", "bang": None, "desc": "handle -h"}
    assert parse_subject("fix: handle -h")["scope"] is None
    assert parse_subject("fix(): x") is None
