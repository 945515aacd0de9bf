"""Import benchmark (issue: foundation).

Builds a 10,000-example file by re-keying the shared sample, imports it into a
fresh database in a child process, and prints the import time as a ratio to a
plain ``json.loads`` pass over the same file, plus the child's peak RSS.
Targets on SQLite: ratio <= 5, RSS <= 300 MB. PostgreSQL is measured too when
reachable (DATABASE_URL_PG, default postgres://postgres@127.0.0.1:5432/postgres).

    .venv/bin/python bench/import_bench.py [--count 10000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from shared_sample import SAMPLE as SHARED  # noqa: E402
from shared_sample import require


def build_file(path: Path, count: int) -> None:
    sample = [json.loads(line) for line in require(SHARED).open()]
    with path.open("w") as out:
        for i in range(count):
            record = dict(sample[i % len(sample)])
            round_ = i // len(sample)
            if round_:
                record["head_commit"] = f"{round_:08x}" + record["head_commit"][8:]
            out.write(json.dumps(record) + "\n")


def parse_pass(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)
    return time.perf_counter() - start


def child(path: str) -> None:
    """Runs in a fresh process: migrate a fresh database, then time the import alone."""
    import django

    django.setup()
    from django.core.management import call_command

    from labeling.examples.services import import_examples_file
    from labeling.models import Example

    call_command("migrate", verbosity=0)
    start = time.perf_counter()
    report = import_examples_file(Path(path))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "imported": report.imported, "stored": Example.objects.count()}))


def run_child(path: Path, database_url: str | None, data_dir: Path) -> tuple[dict, float]:
    env = dict(os.environ, GSCTUNE_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="gsctune.settings")
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    process = subprocess.Popen([sys.executable, __file__, "--child", str(path)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    out, err = process.stdout.read().decode(), process.stderr.read().decode()
    if status != 0:
        raise SystemExit(f"import child failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def fresh_postgres(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            conn.execute("DROP DATABASE IF EXISTS gsctune_import_bench")
            conn.execute("CREATE DATABASE gsctune_import_bench")
    except Exception as exc:  # PostgreSQL is optional for this benchmark
        print(f"PostgreSQL: skipped ({type(exc).__name__}: {exc})".splitlines()[0])
        return None
    return url.rsplit("/", 1)[0] + "/gsctune_import_bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "bench.jsonl"
        build_file(path, args.count)
        size_mb = path.stat().st_size / 1e6
        parse = parse_pass(path)
        print(f"file: {args.count} examples, {size_mb:.1f} MB; json.loads pass: {parse:.2f} s")
        targets = [("SQLite", None, "ratio <= 5.0, RSS <= 300 MB")]
        pg = fresh_postgres(os.environ.get("DATABASE_URL_PG", "postgres://postgres@127.0.0.1:5432/postgres"))
        if pg:
            targets.append(("PostgreSQL", pg, "no target"))
        for name, url, target in targets:
            result, rss = run_child(path, url, tmp / name)
            assert result["stored"] == args.count, result
            print(f"{name}: import {result['seconds']:.2f} s = {result['seconds'] / parse:.2f}x the parse pass; "
                  f"peak RSS {rss:.0f} MB ({target})")


if __name__ == "__main__":
    main()
