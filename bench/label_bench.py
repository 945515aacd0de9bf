"""Labeling throughput against a loopback teacher with fixed latency.

Starts tests/openai_server.py in its own process (so its CPU is not counted).

Client mode (default): sends N labeling requests built from the shared examples
(default prompt, diff cut at 60,000 characters) through TeacherClient at each
concurrency, and prints throughput as a ratio to the limit (concurrency / latency)
and the client's CPU milliseconds per example. Targets: >= 0.95 at 32, >= 0.85 at
128, < 2 CPU-ms per example.

End-to-end mode (``--end-to-end``): for each concurrency, a fresh SQLite database
with N imported examples (the shared sample when ../shared/data has it, else
generated), then ``manage.py label`` timed as a whole: start-up, requests, checks,
labels and review rows written. Prints the ratio to the limit and the command's
CPU milliseconds per stored label. Targets: >= 0.9 at 32, >= 0.5 at 128, <= 2.5
CPU-ms per stored label.

    .venv/bin/python bench/label_bench.py [--end-to-end] [--examples 1000] [--latency 0.2] [--concurrency 32 128]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gsctune.domain.llm_client import ClientConfig, TeacherClient  # noqa: E402
from gsctune.domain.noise import apply_noise, make_noise  # noqa: E402
from gsctune.domain.prompts import build_messages  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "harvest-public.jsonl"


def load_messages(n: int) -> list[list[dict]]:
    records = []
    if DATA.exists():
        with DATA.open() as handle:
            records = [json.loads(line) for line, _ in zip(handle, range(n))]
    if not records:
        records = [{"repo_url": "x", "base_commit": "a", "head_commit": "b", "changed_files": ["a.py"],
                    "existing_gitignore": [], "diff": "diff --git a/a.py b/a.py\n+x\n" * 300}]
    out = []
    for i in range(n):
        ex = records[i % len(records)]
        noise = make_noise(f"{ex['repo_url']}@{ex['base_commit']}..{ex['head_commit']}", ex["changed_files"], 0)
        files, diff = apply_noise(ex["changed_files"], ex["diff"], noise)
        out.append(build_messages({"changed_files": files, "diff": diff}, max_diff_chars=60000))
    return out


async def drive(base_url: str, concurrency: int, messages: list[list[dict]]) -> tuple[float, float, int, float]:
    config = ClientConfig(base_url=base_url, model="bench", concurrency=concurrency)
    async with TeacherClient(config) as client:
        # Warm-up: open the pool's connections so the timing is the steady state.
        await asyncio.gather(*(client.complete(messages[0]) for _ in range(concurrency)))
        pending = list(reversed(messages))
        failures = 0
        latencies: list[float] = []

        async def worker() -> None:
            nonlocal failures
            while pending:
                result = await client.complete(pending.pop())
                failures += not result.ok
                latencies.append(result.latency_s)

        wall0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        latencies.sort()
        return time.perf_counter() - wall0, time.process_time() - cpu0, failures, latencies[len(latencies) // 2]


def harvest_records(n: int) -> tuple[list[str], str]:
    """N harvested JSONL lines with distinct keys: the shared sample when present, else generated."""
    if DATA.exists():
        with DATA.open() as handle:
            lines = [line for line, _ in zip(handle, range(n))]
        source = str(DATA)
    else:
        from tests.sample_data import sample_lines

        lines, source = sample_lines(), "the generated sample (no ../shared/data)"
    out = []
    for i in range(n):
        record = json.loads(lines[i % len(lines)])
        if i >= len(lines):  # a repeat: a new head commit makes it a new example
            record["head_commit"] = f"{i:040x}"
        out.append(json.dumps(record) + "\n")
    return out, source


def end_to_end(port: int, args) -> None:
    """``manage.py label`` from start to finish on a fresh database, once per concurrency."""
    lines, source = harvest_records(args.examples)
    print(f"end to end: {args.examples} examples from {source}, latency {args.latency * 1000:.0f} ms, SQLite")
    for concurrency in args.concurrency:
        folder = Path(tempfile.mkdtemp(prefix="gsctune-label-bench-"))
        try:
            env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
            env.update(GSCTUNE_DATA_DIR=str(folder), DJANGO_SETTINGS_MODULE="gsctune.settings")
            manage = [sys.executable, str(ROOT / "manage.py")]
            subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
            (folder / "examples.jsonl").write_text("".join(lines))
            subprocess.run([*manage, "import_examples", str(folder / "examples.jsonl")], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall0 = time.perf_counter()
            subprocess.run([*manage, "label", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "bench",
                            "--concurrency", str(concurrency)], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - wall0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            with sqlite3.connect(folder / "gsctune.sqlite3") as db:
                labels = db.execute("SELECT COUNT(*) FROM labeling_label").fetchone()[0]
                items = db.execute("SELECT COUNT(*) FROM labeling_reviewitem").fetchone()[0]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        rate, limit = labels / wall, concurrency / args.latency
        print(f"concurrency {concurrency:4d}: {labels} labels ({items} review rows) in {wall:.2f} s = "
              f"{rate:6.1f}/s = {rate / limit:.3f} of the limit ({limit:.0f}/s); "
              f"command CPU {cpu / max(labels, 1) * 1000:.2f} ms per stored label")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--end-to-end", action="store_true", help="time manage.py label on a fresh database")
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tests.openai_server", "--port", str(port),
                               "--latency", str(args.latency)], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        server.stdout.readline()  # "loopback OpenAI server on ..."
        if args.end_to_end:
            end_to_end(port, args)
            return
        messages = load_messages(args.examples)
        mean_chars = sum(len(m[1]["content"]) for m in messages) / len(messages)
        print(f"{args.examples} examples (mean user turn {mean_chars:,.0f} chars), latency {args.latency * 1000:.0f} ms")
        for concurrency in args.concurrency:
            wall, cpu, failures, p50 = asyncio.run(drive(f"http://127.0.0.1:{port}/v1", concurrency, messages))
            rate = args.examples / wall
            limit = concurrency / args.latency
            print(f"concurrency {concurrency:4d}: {rate:7.1f} examples/s = {rate / limit:.3f} of the limit "
                  f"({limit:.0f}/s); client CPU {cpu / args.examples * 1000:.2f} ms/example; "
                  f"median latency seen {p50 * 1000:.0f} ms; failures {failures}")
    finally:
        server.terminate()
        server.wait(10)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = args.examples * len(args.concurrency) + sum(args.concurrency)
    print(f"server process CPU {(usage.ru_utime + usage.ru_stime) / served * 1000:.2f} ms/request; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
