"""Labeled examples from the generated harvest sample (tests/sample_data.py), for the evaluation tests."""
from pathlib import Path

from gsctune.noise import make_noise
from labeling.models import Example, Label
from labeling.services import import_examples_file

from .sample_data import sample_path


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
    for ex in examples:
        label = reference_from_original(ex)
        noise = make_noise(ex.key, ex.changed_files, noise_seed, existing_gitignore=ex.existing_gitignore)
        Label.objects.create(
            example=ex, source=Label.Source.TEACHER, model="teacher-x", commits=label["commits"],
            gitignore=noise.gitignore if noise.injected else [], noise_injected=noise.injected,
            injected_files=noise.files if noise.injected else [], noise_diff=noise.diff if noise.injected else "")
    return examples
