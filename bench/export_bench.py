"""Time the SFT export of 10,000 labeled examples against a plain loads+dumps pass.

The shared sample is re-keyed (new base/head commits per copy, same
repositories) up to N examples and labeled by the offline baseline labeler;
verdicts are spread over accepted / corrected / unreviewed / rejected. Both
passes start from the same labeled JSONL lines in memory:

* plain: ``json.loads`` and ``json.dumps`` of every line;
* export: ``json.loads`` of every line into records, then ``labeling.export.export``
  (selection, split, weights, truncation, rendering, sha256, four files written).

With ``--db`` the same lines are also imported (labeled format: labels come
in unreviewed) into a fresh SQLite database under a temporary data directory,
and the service path is timed too: reading the records from the database
(``services_export.build_records``) plus the export.

With ``--target git-smart-commit`` the export renders the tool's conversations (hunk view,
label conversion to hunks, user turn, the ToolSession's replies, read_file turns) with the
built-in protocol, through the same ``export.export`` the page and ``export_sft`` call.

Usage: .venv/bin/python bench/export_bench.py [--n 10000] [--augment 0] [--repeat 3] [--db]
                                              [--target json-files|git-smart-commit]
Targets: export <= 4x the plain pass (json-files), <= 6x (git-smart-commit).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared_sample import SAMPLE as DATA  # noqa: E402
from shared_sample import baseline_labeled, require

from labeling.export import snapshot as export  # noqa: E402

LIMITS = {export.JSON_FILES: 4, export.TOOL_TARGET: 6}
VERDICTS = ("accepted", "accepted", "accepted", "accepted", "corrected", "corrected",
            "unreviewed", "unreviewed", "unreviewed", "rejected")


def labeled_lines(n: int) -> list[str]:
    """N labeled-format lines with their verdicts (the bench's input)."""
    with require(DATA).open(encoding="utf-8") as fh:
        sample = [json.loads(line) for line in fh]
    return [json.dumps({**ex, "verdict": VERDICTS[hashlib.sha1(str(i).encode()).digest()[0] % len(VERDICTS)]})
            for i, ex in enumerate(baseline_labeled(sample, n))]


def to_record(obj: dict, label_id: int) -> dict:
    label = obj.pop("label")
    return {"example": obj, "verdict": obj.pop("verdict"), "teacher": "baseline", "prompt_version": None,
            "prompt": None, "findings": [],
            "label": {**label, "id": label_id, "noise_injected": obj.pop("noise_injected"),
                      "injected_files": obj.pop("injected_files")}}


def plain_pass(lines: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of json.loads + json.dumps over every line."""
    wall, cpu = time.perf_counter(), time.process_time()
    for line in lines:
        json.dumps(json.loads(line))
    return time.perf_counter() - wall, time.process_time() - cpu


def export_pass(lines: list[str], opts: export.ExportOptions, out: str) -> tuple[float, float, float, export.Result]:
    """(wall, CPU, CPU of parsing the lines into records) seconds of parsing and exporting."""
    wall, cpu = time.perf_counter(), time.process_time()
    records = [to_record(json.loads(line), i + 1) for i, line in enumerate(lines)]
    parse_cpu = time.process_time() - cpu
    result = export.export(records, opts, out)
    return time.perf_counter() - wall, time.process_time() - cpu, parse_cpu, result


def db_pass(lines: list[str], opts: export.ExportOptions, tmp: str) -> tuple[float, float, float, export.Result]:
    """Import into a fresh database, then time reading the records back and exporting them."""
    os.environ["GSCTUNE_DATA_DIR"] = f"{tmp}/var"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gsctune.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from labeling.examples.services import import_examples_file
    from labeling.export.services import build_records

    call_command("migrate", verbosity=0)
    path = Path(tmp) / "labeled.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for line in lines:
            obj = json.loads(line)
            del obj["verdict"]
            fh.write(json.dumps(obj) + "\n")
    import_examples_file(path)
    start, cpu = time.perf_counter(), time.process_time()
    records = build_records()
    read = time.perf_counter() - start
    result = export.export(records, opts, f"{tmp}/db-export")
    return read, time.perf_counter() - start, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--augment", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="Best of this many runs of each pass.")
    parser.add_argument("--db", action="store_true", help="Also time the database path (import first).")
    parser.add_argument("--target", choices=sorted(LIMITS), default=export.JSON_FILES)
    args = parser.parse_args()
    t0 = time.perf_counter()
    lines = labeled_lines(args.n)
    print(f"built {len(lines)} labeled examples ({sum(map(len, lines)) / 1e6:.1f} MB) "
          f"in {time.perf_counter() - t0:.1f} s")
    opts = export.ExportOptions(include_unreviewed=True, augment=args.augment, target=args.target)
    plains, runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):  # interleaved, so both passes meet the same machine load
            plains.append(plain_pass(lines))
            runs.append(export_pass(lines, opts, f"{tmp}/{r}"))
        digests = {json.dumps(res.files, sort_keys=True) for *_, res in runs}
    result = runs[0][3]
    c = result.manifest["counts"]
    print(f"export: {c['train_rows']} train rows, {c['val_rows']} val rows, {c['augmented_rows']} augmented, "
          f"{c['truncated_examples']} truncated; left out: {dict(c['excluded'])}; "
          f"byte-identical across runs: {len(digests) == 1}")
    plain_wall, plain_cpu = min(p[0] for p in plains), min(p[1] for p in plains)
    export_wall, export_cpu = min(r[0] for r in runs), min(r[1] for r in runs)
    export_only = min(r[1] - r[2] for r in runs)
    print(f"plain loads+dumps: {plain_wall:.2f} s wall, {plain_cpu:.2f} s CPU   "
          f"parse+export: {export_wall:.2f} s wall, {export_cpu:.2f} s CPU (export alone {export_only:.2f} s CPU)")
    print(f"ratio (target <= {LIMITS[args.target]}x, best of {args.repeat} interleaved runs): export alone {export_only / plain_cpu:.2f}x CPU; "
          f"parse+export {export_cpu / plain_cpu:.2f}x CPU, {export_wall / plain_wall:.2f}x wall")
    if args.db:
        with tempfile.TemporaryDirectory() as tmp:
            read, total, total_cpu, result = db_pass(lines, opts, tmp)
        print(f"database path: read {result.manifest['counts']['selected']} labels in {read:.2f} s, "
              f"read+export {total:.2f} s wall, {total_cpu:.2f} s CPU; ratio {total_cpu / plain_cpu:.2f}x CPU, "
              f"{total / plain_wall:.2f}x wall")


if __name__ == "__main__":
    main()
