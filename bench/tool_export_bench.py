"""Time the git-smart-commit target export of 10,000 labeled examples against a plain loads+dumps pass.

The labeled lines are the shared sample (../shared/data/harvest-public.jsonl) re-keyed
and replicated up to N examples, labeled by the offline baseline labeler (file level, so
the export converts every label to hunks too); without the sample, generated diffs
stand in. Both passes start from the same labeled JSONL lines in memory:

* plain: ``json.loads`` and ``json.dumps`` of every line;
* export: ``json.loads`` of every line, then ``tool_export.tool_record`` (hunk view,
  label conversion, user turn, the ToolSession's replies, read_file turns) and
  ``record_line``.

Usage: .venv/bin/python bench/tool_export_bench.py [--n 10000] [--repeat 3]
Target: export <= 6x the plain pass.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared_sample import SAMPLE, baseline_labeled

from gsctune.domain import tool_export


def generated(count: int = 300) -> list[dict]:
    """Harvest-shaped examples of the shared sample's size (about 10 kB of diff): modified
    files of several hunks with git's three context lines, and a new test file."""
    out = []
    for n in range(count):
        diff = ""
        files = []
        for f in range(2 + n % 5):
            path = f"src/pkg{n % 7}/mod{f}.py"
            files.append(path)
            hunks = "".join(
                f"@@ -{40 * h + 1},8 +{40 * h + 1},9 @@ def handler_{h}(request, settings):\n"
                + "".join(f"     value_{k} = compute(request.params[{k}], settings.factor)\n" for k in range(3))
                + f"-    result = merge(value_0, value_1, limit={n})\n"
                + f"+    result = merge(value_0, value_1, limit={n + 1})\n+    log.debug('merged %s', result)\n"
                + "".join(f"     check_{k}(result)  # keeps the invariant of step {k}\n" for k in range(3))
                for h in range(1 + (n + f) % 4))
            diff += (f"diff --git a/{path} b/{path}\nindex 1234567..89abcde 100644\n--- a/{path}\n+++ b/{path}\n"
                     + hunks)
        new = f"tests/test_mod{n}.py"
        files.append(new)
        body = "".join(f"+def test_case_{k}():\n+    assert handler_{k % 4}(make_request({k}), SETTINGS)\n+\n"
                       for k in range(8))
        diff += (f"diff --git a/{new} b/{new}\nnew file mode 100644\nindex 0000000..1234567\n--- /dev/null\n"
                 f"+++ b/{new}\n@@ -0,0 +1,24 @@\n{body}")
        out.append({"repo_url": f"github.com/gen/repo{n % 11}", "branch": "main", "base_commit": f"{n:040x}",
                    "head_commit": f"{n + 1:040x}", "n_commits": 1, "diff": diff, "changed_files": files,
                    "original_commits": [], "existing_gitignore": ["*.pyc", "__pycache__/", "build/"],
                    "languages": ["python"]})
    return out


def labeled_lines(n: int) -> tuple[list[str], str]:
    if SAMPLE.exists():
        with SAMPLE.open(encoding="utf-8") as fh:
            sample, source = [json.loads(line) for line in fh], f"shared sample {SAMPLE.name}"
    else:
        sample, source = generated(), "generated diffs (shared sample absent)"
    return [json.dumps(ex) for ex in baseline_labeled(sample, n)], source


def plain_pass(lines: list[str]) -> float:
    cpu = time.process_time()
    for line in lines:
        json.dumps(json.loads(line))
    return time.process_time() - cpu


def export_pass(lines: list[str]) -> tuple[float, int, int, int]:
    """(CPU seconds, records written, labels the tool would refuse, bytes written)."""
    cpu = time.process_time()
    written = refused = size = 0
    for line in lines:
        obj = json.loads(line)
        try:
            record = tool_export.tool_record(obj, obj["label"])
        except ValueError:
            refused += 1
            continue
        size += len(tool_export.record_line(record))
        written += 1
    return time.process_time() - cpu, written, refused, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="Best of this many interleaved runs of each pass.")
    args = parser.parse_args()
    lines, source = labeled_lines(args.n)
    print(f"{len(lines)} labeled examples from {source} ({sum(map(len, lines)) / 1e6:.1f} MB)")
    plains, exports = [], []
    for _ in range(args.repeat):  # interleaved, so both passes meet the same machine load
        plains.append(plain_pass(lines))
        exports.append(export_pass(lines))
    plain = min(plains)
    best = min(exports)
    print(f"export: {best[1]} records ({best[3] / 1e6:.1f} MB), {best[2]} labels the tool would refuse")
    print(f"plain loads+dumps: {plain:.2f} s CPU   tool-target export: {best[0]:.2f} s CPU")
    print(f"ratio (target <= 6x, best of {args.repeat}): {best[0] / plain:.2f}x CPU")


if __name__ == "__main__":
    main()
