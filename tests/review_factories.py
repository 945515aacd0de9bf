"""Examples and labels for the review tests (labels created directly, source imported or teacher)."""

from labeling.models import Example, Label

DIFF = (
    "diff --git a/src/app.py b/src/app.py\n"
    "index 1111111..2222222 100644\n"
    "--- a/src/app.py\n"
    "+++ b/src/app.py\n"
    "@@ -1,2 +1,3 @@\n"
    " import os\n"
    "+def load_config(path):\n"
    "+    return os.path.exists(path)\n"
    "diff --git a/tests/test_app.py b/tests/test_app.py\n"
    "new file mode 100644\n"
    "--- /dev/null\n"
    "+++ b/tests/test_app.py\n"
    "@@ -0,0 +1 @@\n"
    "+def test_load_config(): pass\n"
    "diff --git a/README.md b/README.md\n"
    "--- a/README.md\n"
    "+++ b/README.md\n"
    "@@ -1 +1 @@\n"
    "-Old\n"
    "+Describes load_config\n"
)
FILES = ["src/app.py", "tests/test_app.py", "README.md"]


def make_example(n: int, diff: str = DIFF, files=None, repo="github.com/example/project", languages=("python",)):
    files = list(files or FILES)
    return Example.objects.create(
        key=f"{repo}@{n:040x}..{n + 1:040x}",
        repo_url=repo,
        branch="main",
        base_commit=f"{n:040x}",
        head_commit=f"{n + 1:040x}",
        n_commits=2,
        diff=diff,
        changed_files=files,
        original_commits=[
            {"sha": "a" * 40, "subject": "Add config loading", "files": files[:2]},
            {"sha": "b" * 40, "subject": "Update README", "files": files[2:]},
        ],
        existing_gitignore=["*.pyc"],
        languages=list(languages),
        diff_chars=len(diff),
        n_files=len(files),
        languages_text=" " + " ".join(languages) + " ",
    )


def good_commits():
    return [
        {"subject": "feat(config): add config loading", "files": ["src/app.py", "tests/test_app.py"],
         "body": "Adds load_config with a test.", "issues": []},
        {"subject": "docs(readme): describe config loading", "files": ["README.md"],
         "body": "Mentions load_config.", "issues": []},
    ]


def make_label(example, model="teacher-a", commits=None, **extra):
    return Label.objects.create(
        example=example,
        source=extra.pop("source", Label.Source.IMPORTED),
        model=model,
        commits=good_commits() if commits is None else commits,
        gitignore=extra.pop("gitignore", []),
        usage=extra.pop("usage", {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}),
        **extra,
    )


def make_labels(count: int, model="teacher-a", start=0, **kw):
    return [make_label(make_example(start + i), model=model, **kw) for i in range(count)]
