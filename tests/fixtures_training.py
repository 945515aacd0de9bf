"""Test data for training: SFT export folders built from the shared harvest sample, and tiny models."""

from __future__ import annotations

import json
from pathlib import Path

HARVEST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "harvest-public.jsonl"
SYSTEM = "Split the working tree into conventional commits. Answer with JSON only."


def harvest_path() -> Path:
    for cand in (HARVEST, Path("/work/shared/data/harvest-public.jsonl")):
        if cand.exists():
            return cand
    raise FileNotFoundError("shared/data/harvest-public.jsonl not found beside the repository")


def sft_example(obj: dict, max_diff: int = 160) -> dict:
    """One conversational SFT example, the assistant answer being the original commits as compact JSON."""
    files = "\n".join(obj["changed_files"])
    user = f"Changed files:\n{files}\n\nDiff:\n{obj['diff'][:max_diff]}"
    answer = {"commits": [{"subject": c["subject"], "files": c["files"]} for c in obj["original_commits"]],
              "gitignore": []}
    return {"messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": user},
        {"role": "assistant", "content": json.dumps(answer, separators=(",", ":"))},
    ]}


def write_sft_export(folder: Path, n_train: int = 24, n_val: int = 6) -> Path:
    """Write train.jsonl / val.jsonl the way the export feature does."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    with open(harvest_path(), encoding="utf-8") as fh:
        for line in fh:
            rows.append(sft_example(json.loads(line)))
            if len(rows) >= n_train + n_val:
                break
    for name, part in (("train.jsonl", rows[:n_train]), ("val.jsonl", rows[n_train:])):
        with open(folder / name, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in part)
    return folder


def corpus(folder: Path) -> list[str]:
    from training.tiny import corpus_from_jsonl

    return corpus_from_jsonl(folder / "train.jsonl")
