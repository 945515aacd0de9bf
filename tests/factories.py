"""Builders for harvested records and stored examples, shared by the test modules."""
import json

from labeling.models import Example
from labeling.services import import_examples_file

DIFF = (
    "diff --git a/src/app.py b/src/app.py\n"
    "index 1111111..2222222 100644\n"
    "--- a/src/app.py\n"
    "+++ b/src/app.py\n"
    "@@ -1,2 +1,3 @@\n"
    " import os\n"
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
