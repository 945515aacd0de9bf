"""Episodes per second of the protocol evaluation loop against the rule-based baseline.

Reads the optional shared sample (../shared/data/harvest-public.jsonl, or --data) and
plays one episode per example; without it, N generated multi-file diffs (seeded).
Three passes over the same examples, each timed whole:

* in-process, /v1 thresholds: ``run_protocol_episode`` with the baseline policy as the
  candidate (the loop's own cost: ToolSession, rendering, summaries, compaction);
* in-process, native Ollama thresholds (3,500 / 5,000 tokens: compaction happens);
* HTTP: the baseline behind a loopback aiohttp server speaking /v1/chat/completions,
  through ``EndpointCandidate`` (adds JSON and HTTP per turn), --concurrency at once.

Each pass also scores every episode against the original human commits and the diff
(``score_episode``: grouping, order, hallucination) and reports that time separately.
Prints the figures.

Usage: .venv/bin/python bench/protocol_eval_bench.py [--n 1500] [--data FILE] [--concurrency 8]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web  # noqa: E402

from bench.hunk_bench import generated  # noqa: E402
from bench.shared_sample import SAMPLE  # noqa: E402
from gsctune.domain import baseline_protocol  # noqa: E402
from gsctune.domain.hunks import example_hunks  # noqa: E402
from gsctune.domain.protocol_eval import EndpointCandidate, policy_candidate, run_protocol_episode  # noqa: E402
from gsctune.domain.protocol_metrics import aggregate, score_episode  # noqa: E402


def load(n: int, data: Path) -> tuple[list[dict], str]:
    if data.exists():
        with data.open() as handle:
            rows = [json.loads(line) for line in handle][:n]
        return rows, f"{data.name} ({len(rows)} examples)"
    rng = random.Random(1)
    rows = [{"diff": d, "original_commits": []} for d in generated(n)]
    rng.shuffle(rows)
    return rows, f"generated diffs ({n}; shared sample absent)"


async def _episodes(rows: list[dict], candidate, backend: str, concurrency: int) -> tuple[list, list[float], float]:
    gate = asyncio.Semaphore(concurrency)
    times: list[float] = []

    async def one(row: dict):
        async with gate:
            started = time.perf_counter()
            result = await run_protocol_episode(row["diff"], candidate, backend=backend)
            times.append(time.perf_counter() - started)
            return result

    started = time.perf_counter()
    results = await asyncio.gather(*(one(r) for r in rows))
    return results, times, time.perf_counter() - started


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _report(name: str, rows: list[dict], results: list, times: list[float], wall: float) -> None:
    started = time.perf_counter()
    scored = [score_episode(r, example_hunks(row["diff"]), original_commits=row.get("original_commits"),
                            diff=row["diff"])
              for r, row in zip(results, rows, strict=True)]
    scoring = time.perf_counter() - started
    summary = aggregate(scored, n_boot=200)
    turns = [r.counters["turns_used"] for r in results]
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    compactions = sum(r.counters["compactions"] for r in results)
    summaries = sum(r.counters["summaries"] for r in results)
    print(f"{name:<28} {len(results) / wall:8.1f} episodes/s  p50 {statistics.median(ms):6.2f} ms  "
          f"p95 {p95:7.2f} ms  turns {statistics.mean(turns):5.2f}  finalized {summary['finalized']['mean']:.3f}  "
          f"summaries {summaries}  compactions {compactions}  scoring {1000 * scoring / len(rows):.2f} ms/ep  "
          f"human pair-F1 {_fmt(summary['human_pair_f1']['mean'])}  "
          f"hallucination {_fmt(summary['hallucination']['mean'])}")


async def _http_pass(rows: list[dict], concurrency: int):
    async def chat(request: web.Request) -> web.Response:
        return web.json_response(await baseline_protocol.completion(await request.json()))

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with EndpointCandidate(f"http://127.0.0.1:{port}/v1", "gsctune-baseline") as candidate:
            return await _episodes(rows, candidate, "v1", concurrency)
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--data", type=Path, default=SAMPLE)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    rows, source = load(args.n, args.data)
    print(f"source: {source}")
    candidate = policy_candidate(baseline_protocol.answer)
    for backend in ("v1", "ollama"):
        results, times, wall = asyncio.run(_episodes(rows, candidate, backend, 1))
        _report(f"in-process, {backend}", rows, results, times, wall)
    results, times, wall = asyncio.run(_http_pass(rows, args.concurrency))
    _report(f"HTTP /v1, {args.concurrency} at once", rows, results, times, wall)


if __name__ == "__main__":
    main()
