"""Server time of the review queue with 10,000 examples and labels.

The shared sample is re-keyed up to N examples (new base/head commits per copy)
and labeled by the offline baseline labeler; every label goes through the
automatic checks (timed). A fresh database under a temporary data directory
(SQLite by default, or DATABASE_URL) is used. Measured through Django's test
client in-process, so the figures are the server's own time per request:

* next item: GET /review/next/ (lease + redirect), then an accept verdict so the
  queue moves on, for the gate and the triage queue; also the prefetch variant
  (lease + rendered item HTML) that the page uses;
* review page of the largest diff in the shared sample: GET /review/<id>/, with
  the Pygments cache cleared before each request (cold, what a reviewer meets)
  and left warm. The page carries the hunk-level group editor (every hunk with its
  id and the editor state), so this is also the server time of opening the editor;
* moving a hunk in that editor, in Chromium (Performance API), unless --no-browser.

Usage: .venv/bin/python bench/review_bench.py [--n 10000] [--requests 200]
Targets: next item p95 <= 50 ms; largest review page (hunk editor) p95 <= 150 ms; hunk move p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from shared_sample import SAMPLE as DATA  # noqa: E402
from shared_sample import require


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else values[0]


def summary(name: str, runs: list[tuple[float, float]], target: float | None = None) -> str:
    """Wall and CPU milliseconds; on a busy machine wall time includes waiting for a core."""
    wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
    line = (f"{name:<36} n={len(runs):<4} wall median {statistics.median(wall):6.1f} p95 {p95(wall):6.1f} ms | "
            f"cpu median {statistics.median(cpu):6.1f} p95 {p95(cpu):6.1f} ms")
    if target is not None:
        line += f" | target p95 <= {target:.0f} ms: wall {'OK' if p95(wall) <= target else 'MISSED'}, "
        line += f"cpu {'OK' if p95(cpu) <= target else 'MISSED'}"
    return line


def hunk_move_in_browser(html: str, moves: int) -> str:
    """Client time of moving a hunk in the group editor (Performance API measure "hunk-move").

    The review page of the largest diff, as the server rendered it, with review.js and the
    stylesheets, in Debian's Chromium: open the editor (g), then move hunks between commits
    1 and 2 with j and the digit keys; review.js measures each move including style and layout.
    """
    from playwright.sync_api import sync_playwright

    static = ROOT / "static"
    head = "".join(f"<style>{(static / 'css' / name).read_text()}</style>" for name in ("gsctune.css", "review.css"))
    html = html.replace("</head>", head + "</head>", 1)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.route("**/*", lambda route: route.fulfill(status=204, body=""))  # no server behind the page
        page.set_content(html)
        page.add_script_tag(content=(static / "js" / "review.js").read_text())
        page.keyboard.press("g")
        for i in range(moves):
            page.keyboard.press("j")
            page.keyboard.press(str(1 + i % 2))
        ms = page.evaluate("() => performance.getEntriesByName('hunk-move').map(e => e.duration)")
        browser.close()
    verdict = "OK" if p95(ms) <= 50 else "MISSED"
    return (f"{'hunk move in Chromium (client)':<36} n={len(ms):<4} median {statistics.median(ms):6.1f} "
            f"p95 {p95(ms):6.1f} ms | target p95 <= 50 ms: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--moves", type=int, default=100, help="hunk moves timed in Chromium")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measure of a hunk move")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="review-bench-")
    os.environ["GSCTUNE_DATA_DIR"] = tmp
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gsctune.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from gsctune.domain import baseline
    from gsctune.domain.diffs import highlight_diff
    from gsctune.domain.records import example_key
    from labeling.labels import store_labels
    from labeling.models import Example, Label

    settings.ALLOWED_HOSTS = ["*"]
    print(f"database: {connection.vendor} ({tmp}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    call_command("migrate", verbosity=0)

    with require(DATA).open(encoding="utf-8") as fh:
        sample = [json.loads(line) for line in fh]
    proposals = [baseline.label(ex["changed_files"], ex["diff"]).to_label_dict() for ex in sample]
    largest = max(range(len(sample)), key=lambda i: len(sample[i]["diff"]))

    t = time.perf_counter()
    examples = []
    for i in range(args.n):
        ex = dict(sample[i % len(sample)])
        copy = i // len(sample)
        if copy:
            ex["base_commit"] = hashlib.sha1(f"{ex['base_commit']}{copy}".encode()).hexdigest()
            ex["head_commit"] = hashlib.sha1(f"{ex['head_commit']}{copy}".encode()).hexdigest()
        examples.append(Example(
            key=example_key(ex["repo_url"], ex["base_commit"], ex["head_commit"]),
            repo_url=ex["repo_url"], branch=ex["branch"], base_commit=ex["base_commit"],
            head_commit=ex["head_commit"], n_commits=ex["n_commits"], diff=ex["diff"],
            changed_files=ex["changed_files"], original_commits=ex["original_commits"],
            existing_gitignore=ex["existing_gitignore"], languages=ex["languages"],
            diff_chars=len(ex["diff"]), n_files=len(ex["changed_files"]),
            languages_text=" " + " ".join(ex["languages"]) + " ",
        ))
    Example.objects.bulk_create(examples, batch_size=500)
    print(f"stored {args.n} examples in {time.perf_counter() - t:.1f} s")
    stored = list(Example.objects.order_by("id"))
    labels = [Label(example=example, source=Label.Source.IMPORTED, model="baseline",
                    commits=proposals[i % len(sample)]["commits"], gitignore=proposals[i % len(sample)]["gitignore"],
                    usage={"prompt_tokens": 3000, "completion_tokens": 400, "total_tokens": 3400})
              for i, example in enumerate(stored)]
    t, c = time.perf_counter(), time.process_time()
    for start in range(0, len(labels), 500):
        store_labels(labels[start:start + 500])
    spent, cpu = time.perf_counter() - t, time.process_time() - c
    flagged = Label.objects.exclude(findings=[]).count()
    print(f"labels stored with their checks and queue rows ({args.n}): wall {spent:.1f} s, cpu {cpu:.1f} s "
          f"({cpu / args.n * 1000:.2f} cpu-ms per label; {flagged} labels flagged)")

    user = get_user_model().objects.create_user("bench", password="bench-password")
    client = Client()
    client.force_login(user)

    def timed_get(url, **params):
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(url, params)
        return ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000), response

    def verdict(label_id):
        client.post(reverse("review-verdict", args=[label_id]), json.dumps({"verdict": "accept", "seconds": 4}),
                    content_type="application/json")

    results = []
    for queue in ("gate", "triage"):
        ms = []
        for _ in range(args.requests):
            elapsed, response = timed_get(reverse("review-next"), queue=queue)
            assert response.status_code == 302, response.status_code
            ms.append(elapsed)
            verdict(int(response["Location"].split("/")[-2]))
        results.append(summary(f"next item ({queue} queue)", ms, 50))
    ms = []
    for _ in range(args.requests // 2):
        elapsed, response = timed_get(reverse("review-next"), queue="gate", fragment=1)
        assert response.status_code == 200
        ms.append(elapsed)
        verdict(int(response.content.split(b'data-label="', 1)[1].split(b'"', 1)[0]))
    results.append(summary("next item, prefetched HTML (gate)", ms))

    big = Label.objects.filter(example_id=stored[largest].pk).get()
    url = reverse("review-item", args=[big.pk])
    for name, cold in (("review page + hunk editor, cold", True), ("review page + hunk editor, warm", False)):
        ms = []
        for _ in range(args.requests // 2):
            if cold:
                highlight_diff.cache_clear()
            elapsed, response = timed_get(url)
            assert response.status_code == 200
            ms.append(elapsed)
        results.append(summary(name, ms, 150))
    ex = sample[largest]
    n_hunks = response.content.count(b'class="hunk" data-hunk=')
    print(f"largest diff: {ex['repo_url']} {len(ex['diff']):,} characters, {len(ex['changed_files'])} files, "
          f"{n_hunks} hunks in the group editor")
    if not args.no_browser:
        results.append(hunk_move_in_browser(response.content.decode(), args.moves))
    (wall, cpu), _ = timed_get(reverse("review-gate"))
    print(f"gate page over {args.n} labels: wall {wall:.0f} ms, cpu {cpu:.0f} ms")
    print("\n".join(results))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
