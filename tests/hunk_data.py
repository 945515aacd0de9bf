"""A small harvested example made by hand for the hunk-level label tests (no Django, no git)."""

DIFF = (
    "diff --git a/src/app.py b/src/app.py\n"
    "index 1111111..2222222 100644\n"
    "--- a/src/app.py\n"
    "+++ b/src/app.py\n"
    "@@ -1 +1 @@\n"
    "-a\n"
    "+b\n"
    "@@ -20 +20 @@\n"
    "-c\n"
    "+d\n"
    "diff --git a/tests/test_app.py b/tests/test_app.py\n"
    "index 4444444..5555555 100644\n"
    "--- a/tests/test_app.py\n"
    "+++ b/tests/test_app.py\n"
    "@@ -3 +3,2 @@ def test_app():\n"
    " x = 1\n"
    "+assert b\n"
    "diff --git a/cache.pyc b/cache.pyc\n"
    "new file mode 100644\n"
    "index 0000000..6666666\n"
    "Binary files /dev/null and b/cache.pyc differ\n"
    "diff --git a/debug.log b/debug.log\n"
    "new file mode 100644\n"
    "index 0000000..7777777\n"
    "--- /dev/null\n"
    "+++ b/debug.log\n"
    "@@ -0,0 +1 @@\n"
    "+npm error\n"
    "diff --git a/docs/new.md b/docs/new.md\n"
    "new file mode 100644\n"
    "index 0000000..8888888\n"
    "--- /dev/null\n"
    "+++ b/docs/new.md\n"
    "@@ -0,0 +1,2 @@\n"
    "+# New\n"
    "+hello\n"
)
# cache.pyc is matched by the repository's .gitignore, so the tool never lists it;
# debug.log is junk gsctune injected.
EXAMPLE = {"diff": DIFF, "existing_gitignore": ["*.pyc"], "injected_files": ["debug.log"],
           "changed_files": ["src/app.py", "tests/test_app.py", "cache.pyc", "debug.log", "docs/new.md"]}
IDS = ["src/app.py::1", "src/app.py::2", "tests/test_app.py::1", "debug.log::1", "docs/new.md::1"]

HUNK_LABEL = {
    "commits": [
        {"subject": "feat(app): return b", "hunks": ["src/app.py::1", "tests/test_app.py::1"],
         "body": "Return b instead of a.", "breaking_change": "", "issues": []},
        {"subject": "docs: describe d", "hunks": ["src/app.py::2", "docs/new.md::1"],
         "body": "Use d and describe it.", "breaking_change": "", "issues": []},
    ],
    "gitignore": ["*.log"],
    "skipped_hunks": ["debug.log::1"],
}
FILE_LABEL = {
    "commits": [
        {"subject": "feat(app): return b and d", "files": ["src/app.py", "tests/test_app.py"], "body": "Both.",
         "issues": []},
        {"subject": "docs: add a page", "files": ["docs/new.md"], "body": "A page.", "issues": []},
    ],
    "gitignore": ["*.log"],
}
