"""A labeled example for the hunk-level group editor tests: two files with several hunks, a README
and an injected junk file (debug.log) that the teacher put into a commit."""
from labeling.models import Label
from tests.factories import make_example, make_label


def _modified(path: str, n: int) -> str:
    head = f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"
    return head + "".join(f"@@ -{10 * i + 1} +{10 * i + 1} @@\n-old {path} {i}\n+new {path} {i}\n" for i in range(n))


DIFF = _modified("src/app.py", 3) + _modified("src/util.py", 2) + _modified("README.md", 1)
FILES = ["src/app.py", "src/util.py", "README.md"]
NOISE = ("diff --git a/debug.log b/debug.log\nnew file mode 100644\nindex 0000000..7777777\n"
         "--- /dev/null\n+++ b/debug.log\n@@ -0,0 +1 @@\n+trace\n")
COMMITS = [
    {"subject": "feat(app): add the new code paths", "files": ["src/app.py", "src/util.py"], "body": "", "issues": []},
    {"subject": "docs(readme): describe them", "files": ["README.md"], "body": "", "issues": []},
    {"subject": "chore: add a log", "files": ["debug.log"], "body": "", "issues": []},
]
# In the tool's order: tracked files by path, then untracked ones (the new debug.log).
HUNKS = ["README.md::1", "src/app.py::1", "src/app.py::2", "src/app.py::3", "src/util.py::1", "src/util.py::2",
         "debug.log::1"]


def hunk_label(n: int = 40) -> Label:
    return make_label(make_example(n, diff=DIFF, files=FILES), model="teacher-h", commits=COMMITS,
                      noise_injected=True, injected_files=["debug.log"], noise_diff=NOISE)
