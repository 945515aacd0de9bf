"""git-smart-commit eval runs through the app, against loopback servers over real HTTP: a candidate
that never finalizes runs out of turns (and every report counts it), and the time an episode and
each request take is what a slow server costs."""
import json
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.urls import reverse

from evaluation import runs
from evaluation.models import EvalRun
from gsctune.domain import baseline_protocol
from gsctune.domain.baseline import JSONHandler
from gsctune.domain.hunks import split_diff, tool_view
from gsctune.domain.protocol import max_turns, tool_call_message
from gsctune.jobs import JobState, execute_job

from .factories import load_labeled

pytestmark = pytest.mark.django_db(transaction=True)

DELAY_S = 0.05


class _Scripted(JSONHandler):
    """``server.answer(messages, tools)`` answers every chat request, after ``server.delay`` seconds."""

    def do_POST(self):  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.server.requests += 1
        time.sleep(self.server.delay)
        message = self.server.answer(request["messages"], request.get("tools"))
        self._send(200, {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})


def _investigates_forever(messages, tools):
    """Never emits and never finalizes: each turn asks for the git log, even when only finalize is offered."""
    n = sum(m.get("role") == "assistant" for m in messages)
    return tool_call_message(f"call_{n}", "get_git_log", {"n": 5})


def _serve(answer, delay: float = 0.0):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.verbose, server.daemon_threads = False, True
    server.answer, server.delay, server.requests = answer, delay, 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def serve():
    servers = []

    def start(answer, delay: float = 0.0):
        servers.append(_serve(answer, delay))
        return servers[-1], f"http://127.0.0.1:{servers[-1].server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _run(examples, base_url, **fields) -> EvalRun:
    run = runs.create_eval_run(
        name="loop", example_ids=[e.pk for e in examples], examples_source="test", enqueue=False,
        base_url=base_url, model="m", concurrency=2, target=EvalRun.Target.GIT_SMART_COMMIT, **fields)
    run = execute_job(run.job_label, run.pk)
    assert run.state == JobState.SUCCEEDED, run.error
    return run


def test_a_candidate_that_never_finalizes_runs_out_of_turns_and_every_report_counts_it(
        tmp_path, serve, staff_client):
    examples = load_labeled(tmp_path, 2)
    server, url = serve(_investigates_forever)
    run = _run(examples, url)
    preds = list(run.predictions.select_related("reference"))
    assert len(preds) == 2
    for p in preds:
        n_hunks = len(tool_view(split_diff(p.reference.as_labeled()["diff"])))  # the diff played: junk included
        limit = max_turns(n_hunks)
        assert p.outcome == "out_of_turns" and p.proposal is None and not p.error
        assert p.parse_error.startswith("no accepted finalize_commits in")
        assert p.counters["turns_used"] == limit and p.counters["investigation"] == limit
        assert p.counters["unassigned"] == n_hunks and p.counters["emit_accepted"] == 0
        assert p.scores["finalized"] == 0.0 and p.scores["unassigned"] == n_hunks
        kinds = [m["kind"] for m in p.transcript]
        assert kinds.count("tool_call") == limit and kinds.count("warning") == 6  # the tool's countdown
    assert server.requests == sum(p.counters["turns_used"] for p in preds)  # no side request: replies are short
    summary = run.summary
    assert summary["outcomes"] == {"out_of_turns": 2} and summary["n"] == 2 and summary["failed"] == 0
    finalized = summary["overall"]["finalized"]
    assert finalized["mean"] == 0.0 and finalized["n"] == 2 and finalized["hi"] > 0  # Wilson: not a point

    html = staff_client.get(reverse("eval-run-detail", args=[run.pk])).content.decode()
    assert "out_of_turns 2" in html
    assert "0.000" in html[html.index("Finalized validly"):][:300]
    page = staff_client.get(preds[0].get_absolute_url()).content.decode()
    assert "No final proposal: the episode did not finalize." in page and "out_of_turns" in page
    assert "get_git_log" in page and "msg-warning" in page

    out = tmp_path / "table.txt"
    with open(out, "w") as fh:
        call_command("evaluate", "--target", "git-smart-commit", "--base-url", url, "--model", "m",
                     "--sample", "2", stdout=fh)
    table = out.read_text()
    assert "outcomes: out_of_turns 2" in table
    row = next(line for line in table.splitlines() if line.startswith("Finalized validly"))
    assert row.split()[2] == "0.000"


def test_episode_and_request_latency_are_measured_on_a_slow_server(tmp_path, serve, staff_client):
    examples = load_labeled(tmp_path, 2)
    server, url = serve(baseline_protocol.answer, delay=DELAY_S)
    run = _run(examples, url)
    preds = list(run.predictions.all())
    assert all(p.outcome == "finalized" for p in preds)
    for p in preds:
        requests = p.counters["turns_used"] + p.counters["side_requests"]
        assert len(p.request_latencies) == requests >= 2
        assert all(s >= DELAY_S for s in p.request_latencies)
        assert p.latency_s >= sum(p.request_latencies) >= requests * DELAY_S  # one request at a time
        timed = [m["latency_s"] for m in p.transcript if m["kind"] in ("tool_call", "text")]
        assert len(timed) == p.counters["turns_used"] and min(timed) >= DELAY_S
    episode, request = run.summary["episode_latency"], run.summary["request_latency"]
    assert episode["n"] == 2 and episode["mean"] >= 2 * DELAY_S
    assert request["n"] == sum(len(p.request_latencies) for p in preds) and request["p50"] >= DELAY_S

    html = staff_client.get(reverse("eval-run-detail", args=[run.pk])).content.decode()
    assert "episode wall time" in html and f"{request['n']} requests" in html
    assert f"{preds[0].latency_s:.2f} s" in html  # the predictions table's latency column
    page = staff_client.get(preds[0].get_absolute_url()).content.decode()
    slowest = max(preds[0].request_latencies)
    assert f"Wall time {preds[0].latency_s:.2f} s" in page and f"slowest {slowest:.3f} s" in page
    assert page.count('class="latency"') == preds[0].counters["turns_used"]
