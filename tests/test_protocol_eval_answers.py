"""Investigation tools answered from a harvested diff as git-smart-commit answers them in a working
tree it has just unstaged: a new file is untracked there (no diff, not searched), nothing is staged,
get_diff labels its one section and cuts long answers at 6,000 characters."""
from gsctune.domain.hunks import split_diff
from gsctune.domain.protocol_eval import GET_DIFF_LIMIT, ExampleAnswers

MODIFIED = ("diff --git a/src/core.py b/src/core.py\nindex 1111111..2222222 100644\n--- a/src/core.py\n"
            "+++ b/src/core.py\n@@ -1 +1 @@\n-def run():\n+def run(fast=False):\n")
ADDED = ("diff --git a/src/new.py b/src/new.py\nnew file mode 100644\nindex 0000000..3333333\n--- /dev/null\n"
         "+++ b/src/new.py\n@@ -0,0 +1,2 @@\n+def run_fast():\n+    return run(fast=True)\n")
BIG = ("diff --git a/big.txt b/big.txt\nindex 1111111..2222222 100644\n--- a/big.txt\n+++ b/big.txt\n"
       "@@ -1,400 +1,400 @@\n" + "".join(f"-line {n}\n+row {n}\n" for n in range(400)))


def answers() -> ExampleAnswers:
    return ExampleAnswers(split_diff(MODIFIED + ADDED + BIG))


def test_get_diff_answers_like_the_tool_after_unstaging():
    a = answers()
    both = a.answer("get_diff", {"path": "src/core.py"}, 1)
    assert both == "=== unstaged ===\n" + MODIFIED
    assert a.answer("get_diff", {"path": "src/core.py", "staged": False}, 2) == MODIFIED
    nothing_staged = a.answer("get_diff", {"path": "src/core.py", "staged": True}, 3)
    untracked = a.answer("get_diff", {"path": "src/new.py"}, 4)
    assert "src/core.py" in nothing_staged and "def run" not in nothing_staged
    assert "src/new.py" in untracked and "run_fast" not in untracked
    cut = a.answer("get_diff", {"path": "big.txt", "staged": False}, 5)
    assert len(BIG) > GET_DIFF_LIMIT and cut.startswith(BIG[:GET_DIFF_LIMIT])
    assert cut[GET_DIFF_LIMIT:] == "\n[diff cut at 6,000 characters]"
    assert [entry["answered"] for entry in a.log] == ["example"] * 5


def test_search_diff_leaves_new_files_out_and_read_file_has_their_content():
    a = answers()
    found = a.answer("search_diff", {"pattern": r"fast", "context_lines": 0}, 1)
    assert "src/core.py (diff line 7)" in found and "src/new.py" not in found
    assert "No line of the changes" in a.answer("search_diff", {"pattern": "run_fast"}, 2)
    assert a.answer("read_file", {"path": "src/new.py"}, 3) == "def run_fast():\n    return run(fast=True)\n"
    wide = a.answer("search_diff", {"pattern": "^-line 0$", "context_lines": 30}, 4)
    assert wide.count("\n") == 30 + 5 + 1  # context is not capped: 5 header lines above, 30 below, the heading
