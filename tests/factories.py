"""The test data builders: harvested records, stored examples and labels (stored through the
one label writer, so they are checked and queued as in the app), labeled sample examples."""
import json
from pathlib import Path

from gsctune.domain.noise import make_noise
from labeling.examples.services import import_examples_file
from labeling.labels import store_label, store_labels
from labeling.models import Example, Label

from .sample_data import sample_path

# The start of both example diffs: a change to src/app.py after its "import os" line.
_APP_HEAD = (
    "diff --git a/src/app.py b/src/app.py\n"
    "index 1111111..2222222 100644\n"
    "--- a/src/app.py\n"
    "+++ b/src/app.py\n"
    "@@ -1,2 +1,3 @@\n"
    " import os\n"
)

DIFF = (
    _APP_HEAD +
    "+import sys\n"
    " print(os.getcwd())\n"
    "diff --git a/tests/test_app.py b/tests/test_app.py\n"
    "new file mode 100644\n"
    "index 0000000..3333333\n"
    "--- /dev/null\n"
    "+++ b/tests/test_app.py\n"
    "@@ -0,0 +1 @@\n"
    "+def test_app(): pass\n"
)


def harvested(n: int = 0, **overrides) -> dict:
    record = {
        "repo_url": "github.com/example/project",
        "branch": "main",
        "base_commit": f"{n:040x}",
        "head_commit": f"{n + 1:040x}",
        "n_commits": 1,
        "diff": DIFF,
        "changed_files": ["src/app.py", "tests/test_app.py"],
        "original_commits": [{"sha": f"{n + 1:040x}", "subject": "Import sys", "files": ["src/app.py", "tests/test_app.py"]}],
        "existing_gitignore": ["*.pyc"],
        "languages": ["python"],
    }
    record.update(overrides)
    return record


def write_jsonl(path, records) -> None:
    with open(path, "wb") as out:
        for record in records:
            out.write(record if isinstance(record, bytes) else (json.dumps(record) + "\n").encode())


def make_examples(tmp_path, count: int = 3, **overrides) -> list[Example]:
    path = tmp_path / "examples.jsonl"
    write_jsonl(path, [harvested(i * 2, **overrides) for i in range(count)])
    import_examples_file(path)
    return list(Example.objects.order_by("id"))


# --------------------------------------------------------------------------- review: examples made directly

REVIEW_DIFF = (
    _APP_HEAD +
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
REVIEW_FILES = ["src/app.py", "tests/test_app.py", "README.md"]


def make_example(n: int, diff: str = REVIEW_DIFF, files=None, repo="github.com/example/project", languages=("python",)):
    files = list(files or REVIEW_FILES)
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
    """An imported (or ``source=``) label on an example, stored like the app stores labels."""
    return store_label(Label(
        example=example,
        source=extra.pop("source", Label.Source.IMPORTED),
        model=model,
        commits=good_commits() if commits is None else commits,
        gitignore=extra.pop("gitignore", []),
        usage=extra.pop("usage", {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}),
        **extra,
    ))


def make_labels(count: int, model="teacher-a", start=0, **kw):
    return [make_label(make_example(start + i), model=model, **kw) for i in range(count)]


# --------------------------------------------------------------------------- evaluation: labeled sample

def reference_from_original(example: Example) -> dict:
    """A teacher-like label: the human grouping (each file in the last commit touching it), conventional subjects."""
    owner = {}
    for idx, c in enumerate(example.original_commits):
        for f in c["files"]:
            if f in example.changed_files:
                owner[f] = idx
    commits = []
    for idx, c in enumerate(example.original_commits):
        files = [f for f in example.changed_files if owner.get(f) == idx]
        if files:
            desc = c["subject"][:60].strip().rstrip(".") or "update"
            commits.append({"subject": f"chore: {desc[0].lower() + desc[1:]}", "files": files, "body": "",
                            "issues": []})
    return {"commits": commits, "gitignore": []}


def load_labeled(tmp_path: Path, n: int, noise_seed: int = 1) -> list[Example]:
    """Import the first n sample examples and store one teacher label each (some with injected junk)."""
    path = tmp_path / "sample.jsonl"
    with open(sample_path(), encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
        for _, line in zip(range(n), src):
            out.write(line)
    import_examples_file(path)
    examples = list(Example.objects.order_by("id"))
    labels = []
    for ex in examples:
        label = reference_from_original(ex)
        noise = make_noise(ex.key, ex.changed_files, noise_seed, existing_gitignore=ex.existing_gitignore)
        labels.append(Label(
            example=ex, source=Label.Source.TEACHER, model="teacher-x", commits=label["commits"],
            gitignore=noise.gitignore if noise.injected else [], noise_injected=noise.injected,
            injected_files=noise.files if noise.injected else [], noise_diff=noise.diff if noise.injected else ""))
    store_labels(labels)
    return examples
