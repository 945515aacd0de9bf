"""Time splitting 10,000 examples into the tool's hunks against a plain splitlines pass.

Reads the optional shared sample (../shared/data/harvest-public.jsonl) replicated up to
N diffs; without it, N generated multi-file diffs (seeded) of a similar shape. Both
passes run over the same strings in memory, interleaved, best of --repeat:

* plain: ``diff.splitlines()`` of every diff;
* split: ``gsctune.domain.hunks.split_diff`` (files, hunks, ids, headers, bodies);
* with counts: split plus every hunk's +A/-D (what rendering the hunk list adds).

Usage: .venv/bin/python bench/hunk_bench.py [--n 10000] [--repeat 5]
Target: split <= 3x the plain pass.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.shared_sample import SAMPLE  # noqa: E402
from gsctune.domain.hunks import split_diff  # noqa: E402


def generated(n: int, seed: int = 0) -> list[str]:
    """Diffs of 1-10 files with 1-4 hunks each, around the shared sample's median size."""
    rng = random.Random(seed)
    diffs = []
    for _ in range(n):
        parts = []
        for f in range(rng.randint(1, 10)):
            path = f"pkg/mod_{rng.randint(0, 999)}_{f}.py"
            parts.append(f"diff --git a/{path} b/{path}\nindex 1a2b3c4..5d6e7f8 100644\n--- a/{path}\n+++ b/{path}\n")
            line = 1
            for _ in range(rng.randint(1, 4)):
                line += rng.randint(5, 80)
                body = [f" context {line + i} = value({i})\n" for i in range(3)]
                body += [f"-removed {line} old_call(arg)\n"] * rng.randint(0, 4)
                body += [f"+added {line} new_call(arg, other)\n"] * rng.randint(1, 6)
                body += [f" context {line + i} tail\n" for i in range(3)]
                parts.append(f"@@ -{line},7 +{line},8 @@ def function_{line}():\n" + "".join(body))
        diffs.append("".join(parts))
    return diffs


def load(n: int) -> tuple[list[str], str]:
    if SAMPLE.exists():
        with SAMPLE.open() as handle:
            base = [json.loads(line)["diff"] for line in handle]
        return [base[i % len(base)] for i in range(n)], f"shared sample ({len(base)} diffs) replicated"
    return generated(n), "generated diffs (shared sample absent)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    diffs, source = load(args.n)

    def plain() -> None:
        for diff in diffs:
            diff.splitlines()

    def split() -> None:
        for diff in diffs:
            split_diff(diff)

    def split_counts() -> None:
        for diff in diffs:
            for f in split_diff(diff):
                for h in f.hunks:
                    h.added  # noqa: B018 (counted on first use)

    passes = (plain, split, split_counts)
    best = dict.fromkeys(passes, float("inf"))
    for _ in range(args.repeat):
        for fn in passes:
            start = time.perf_counter()
            fn()
            best[fn] = min(best[fn], time.perf_counter() - start)
    n_hunks = sum(len(f.hunks) for diff in diffs for f in split_diff(diff))
    print(f"{len(diffs):,} diffs from {source}, {sum(map(len, diffs)):,} characters, {n_hunks:,} hunks")
    print(f"plain splitlines : {best[plain]:.3f} s")
    print(f"split_diff       : {best[split]:.3f} s  ratio {best[split] / best[plain]:.2f} (target <= 3)")
    print(f"split + counts   : {best[split_counts]:.3f} s  ratio {best[split_counts] / best[plain]:.2f}")


if __name__ == "__main__":
    main()
