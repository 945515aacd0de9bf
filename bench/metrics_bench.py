"""Time every eval metric for 1000 predictions on real harvested examples (target <= 2 s).

Predictions are deterministic perturbations of the original human commits
(merged, split, a file moved, junk committed or ignored, a made-up identifier,
unparsed), so every code path of ``gsctune.domain.metrics`` runs. Usage:

    .venv/bin/python bench/metrics_bench.py [--n 1000] [--data PATH]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared_sample import SAMPLE as DATA  # noqa: E402
from shared_sample import require

from gsctune.domain import metrics  # noqa: E402

TYPES = ("feat", "fix", "docs", "refactor", "test", "chore")


def load(path: Path, n: int) -> list[dict]:
    with path.open() as fh:
        rows = [json.loads(line) for _, line in zip(range(n), fh)]
    while len(rows) < n:  # small data files are cycled
        rows += rows[: n - len(rows)]
    return rows


def reference(example: dict, rng: random.Random) -> dict:
    """A label-shaped reference: the human grouping with conventional subjects."""
    commits, seen = [], set()
    for c in example["original_commits"]:
        files = [f for f in c["files"] if f in example["changed_files"] and f not in seen]
        seen.update(files)
        if files:
            commits.append({"subject": f"{rng.choice(TYPES)}: {c['subject'][:60]}", "files": files,
                            "body": c["subject"], "issues": []})
    return {"commits": commits, "gitignore": []}


def prediction(example: dict, ref: dict, rng: random.Random) -> tuple[dict | None, bool]:
    """(proposal or None, parsed) - a perturbed copy of the reference."""
    roll = rng.random()
    if roll < 0.05:
        return None, rng.random() < 0.5
    commits = [dict(c, files=list(c["files"])) for c in ref["commits"]]
    if roll < 0.25 and len(commits) > 1:
        commits[0]["files"] += commits.pop(1)["files"]
    elif roll < 0.45 and commits and len(commits[0]["files"]) > 1:
        moved = commits[0]["files"].pop()
        commits.append({"subject": "refactor: split out " + moved, "files": [moved],
                        "body": "Moves HallucinatedHelper.run_all into its own commit.", "issues": []})
    elif roll < 0.55 and commits:
        commits[-1]["files"].append("src/not_in_change.py")
    gitignore = []
    for junk in example.get("injected_files", []):
        if rng.random() < 0.5:
            gitignore.append("*" + Path(junk).suffix if Path(junk).suffix else junk)
        else:
            commits[-1:] and commits[-1]["files"].append(junk)
    return {"commits": commits, "gitignore": gitignore}, True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    rng = random.Random(7)
    examples = load(require(args.data), args.n)
    cases = []
    for ex in examples:
        ex = dict(ex)
        if rng.random() < 0.3:
            ex["noise_injected"] = True
            ex["injected_files"] = [".DS_Store", "debug.log"][: rng.randint(1, 2)]
            ex["changed_files"] = ex["changed_files"] + ex["injected_files"]
        ref = reference(ex, rng)
        cases.append((ex, ref, *prediction(ex, ref, rng)))

    t0, c0 = time.perf_counter(), time.process_time()
    rows = [metrics.score_prediction(p, ex, ref, parsed=parsed) for ex, ref, p, parsed in cases]
    t1 = time.perf_counter()
    summary = metrics.aggregate(rows, n_boot=1000, seed=0)
    t2, c2 = time.perf_counter(), time.process_time()
    by_lang = metrics.breakdown(rows, [ex.get("languages") or ["none"] for ex, *_ in cases], n_boot=1000)
    by_size = metrics.breakdown(rows, [[metrics.diff_size_bucket(ex["diff"])] for ex, *_ in cases],
                                n_boot=1000)
    t3 = time.perf_counter()

    for name, (label, _) in metrics.METRICS.items():
        s = summary[name]
        if s["n"]:
            print(f"{label:40s} {s['mean']:.3f} [{s['lo']:.3f}, {s['hi']:.3f}] n={s['n']}")
    print(f"\n{len(rows)} predictions: score {t1 - t0:.3f} s, aggregate+bootstrap {t2 - t1:.3f} s, "
          f"breakdowns ({len(by_lang)} languages, {len(by_size)} sizes) {t3 - t2:.3f} s")
    total = t2 - t0
    print(f"all metrics with 95% intervals: {total:.3f} s wall, {c2 - c0:.3f} s CPU "
          f"(target <= 2 s) -> {'OK' if total <= 2 else 'SLOW'}")


if __name__ == "__main__":
    main()
