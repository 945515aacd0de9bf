"""git-smart-commit eval runs: episodes against serve_baseline and a scripted loopback server over
real HTTP, stored with transcripts and counters, and shown on the report and prediction pages."""
import json
import threading
from http.server import ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.urls import reverse

from evaluation import runs
from evaluation.models import EvalRun
from gsctune.domain import baseline_protocol
from gsctune.domain.baseline import JSONHandler
from gsctune.domain.protocol import EMIT, tool_call_message
from gsctune.domain.protocol_metrics import METRICS
from gsctune.jobs import JobState, execute_job

from .factories import load_labeled
from .test_evaluation_adapter import tiny_adapter  # noqa: F401  (the tiny LoRA adapter fixture)

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = "<script>alert('no tool call')</script>"


class _Mistakes(JSONHandler):
    """The baseline, but its first answer of each episode has no tool call and its second emits an
    unknown hunk id; then it plays on as if those two had not happened (stateless per request)."""

    def do_POST(self):  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        messages, tools = request["messages"], request.get("tools")
        mine = [m for m in messages if m.get("role") == "assistant"]
        if tools and not mine:
            message = {"role": "assistant", "content": SCRIPT}
        elif tools and len(mine) == 1:
            message = tool_call_message("call_bad", EMIT, {"commit": {"subject": "feat: ghost", "hunks": ["nope.py::9"]}})
        else:
            message = baseline_protocol.answer(_without_mistakes(messages), tools)
        self._send(200, {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})


def _without_mistakes(messages: list[dict]) -> list[dict]:
    """The conversation less the two scripted mistakes and the tool's answers to them."""
    out, skip = [], 0
    assistant = 0
    for m in messages:
        if m.get("role") == "assistant":
            assistant += 1
            skip = assistant <= 2
            if skip:
                continue
        elif skip and m.get("role") in ("user", "tool"):
            continue
        out.append(m)
    return out


@pytest.fixture
def mistakes_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mistakes)
    server.verbose = False
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def make_run(examples, base_url, **fields):
    return runs.create_eval_run(
        name="protocol", example_ids=[e.pk for e in examples], examples_source="test", enqueue=False,
        base_url=base_url, model="gsctune-baseline", concurrency=2, target=EvalRun.Target.GIT_SMART_COMMIT,
        **fields)


def test_a_run_against_serve_baseline_stores_episodes_and_reports_every_protocol_metric(
        tmp_path, baseline_server, staff_client):
    examples = load_labeled(tmp_path, 6)
    run = make_run(examples, baseline_server.base_url)
    run = execute_job(run.job_label, run.pk)
    assert run.state == JobState.SUCCEEDED, run.error
    preds = list(run.predictions.all())
    assert len(preds) == 6 and all(p.outcome == "finalized" for p in preds)
    for p in preds:
        kinds = [m["kind"] for m in p.transcript]
        assert kinds[:2] == ["system", "first_user"] and "tool_call" in kinds
        assert p.proposal["commits"] and all(c["hunks"] for c in p.proposal["commits"])
        assert p.counters["turns_used"] >= 2 and p.counters["unknown_id"] == 0
    overall = run.summary["overall"]
    assert overall["finalized"]["mean"] == 1.0 and overall["finalized"]["n"] == 6
    assert overall["finalized"]["lo"] < 1.0  # Wilson interval, not a point
    assert overall["no_tool_share"]["mean"] == 0.0
    assert overall["human_pair_f1"]["n"] == 6 and 0 <= overall["human_pair_f1"]["mean"] <= 1
    assert run.summary["outcomes"] == {"finalized": 6}

    html = staff_client.get(reverse("eval-run-detail", args=[run.pk])).content.decode()
    for label, _ in METRICS.values():
        assert label.replace("'", "&#x27;") in html, label
    assert ">git-smart-commit</span>" in html and "finalized 6" in html

    out = tmp_path / "out.txt"
    with open(out, "w") as fh:
        call_command("evaluate", "--target", "git-smart-commit", "--base-url", baseline_server.base_url,
                     "--model", "gsctune-baseline", "--sample", "3", stdout=fh)
    table = out.read_text()
    assert "Finalized validly" in table and "Human: pairwise F1" in table and "outcomes: finalized 3" in table


def test_scripted_mistakes_are_counted_on_the_report_and_the_transcript_is_escaped(
        tmp_path, mistakes_server, staff_client):
    examples = load_labeled(tmp_path, 3)
    run = make_run(examples, mistakes_server)
    run = execute_job(run.job_label, run.pk)
    assert run.state == JobState.SUCCEEDED, run.error
    preds = list(run.predictions.all())
    assert all(p.outcome == "finalized" for p in preds)
    assert all(p.counters["no_tool_call"] == 1 and p.counters["unknown_id"] == 1 for p in preds)
    overall = run.summary["overall"]
    assert overall["unknown_id"]["mean"] == 1.0 and overall["unknown_id"]["n"] == 3
    turns = [p.counters["turns_used"] for p in preds]
    assert overall["no_tool_share"]["mean"] == pytest.approx(sum(1 / t for t in turns) / 3)

    html = staff_client.get(reverse("eval-run-detail", args=[run.pk])).content.decode()
    row = html[html.index("Unknown hunk-id errors"):][:400]
    assert "1.000" in row

    pred = preds[0]
    page = staff_client.get(pred.get_absolute_url()).content.decode()
    assert SCRIPT not in page and "&lt;script&gt;alert(&#x27;no tool call&#x27;)&lt;/script&gt;" in page
    assert "nudge" in page and "tool_call" in page and "nope.py::9" in page
    assert "emit_commit" in page and "finalize_commits" in page


def test_an_ollama_run_talks_native_api_chat_with_its_small_thresholds(tmp_path, baseline_server):
    examples = load_labeled(tmp_path, 3)
    run = make_run(examples, baseline_server.base_url, protocol_backend=EvalRun.ProtocolBackend.OLLAMA)
    run = execute_job(run.job_label, run.pk)
    assert run.state == JobState.SUCCEEDED, run.error
    assert run.summary["outcomes"] == {"finalized": 3}
    assert all(p.counters["turns_used"] >= 2 for p in run.predictions.all())


def test_the_form_offers_the_target_for_an_endpoint_and_an_adapter(tmp_path, staff_client):
    load_labeled(tmp_path, 2)
    page = staff_client.get(reverse("eval-run-new")).content.decode()
    assert 'name="target"' in page and "plays the tool&#x27;s side of its tool-call loop" in page
    post = {"name": "p", "backend": "endpoint", "base_url": "http://127.0.0.1:9/v1", "model": "m",
            "target": "git-smart-commit", "protocol_backend": "ollama", "prompt_kind": "finetune",
            "source": "sample", "sample": 2, "seed": 0, "concurrency": 1, "max_tokens": 512}
    assert staff_client.post(reverse("eval-run-new"), post).status_code == 302
    post |= {"backend": "adapter", "base_model_path": "/m", "adapter_path": "/a", "protocol_backend": "v1"}
    assert staff_client.post(reverse("eval-run-new"), post).status_code == 302
    endpoint, adapter = EvalRun.objects.order_by("id")
    assert endpoint.target == adapter.target == "git-smart-commit" and endpoint.protocol_version is None
    assert endpoint.protocol_backend == "ollama" and adapter.queue == "gpu"


def test_generated_tool_calls_are_read_back_in_the_hermes_form():
    from evaluation.adapter_candidate import parse_tool_calls

    message = parse_tool_calls('Grouping.\n<tool_call>\n{"name": "emit_commit", "arguments": {"commit": '
                               '{"subject": "feat: x", "hunks": ["a.py::1"]}}}\n</tool_call>')
    assert message["content"] == "Grouping."
    call = message["tool_calls"][0]["function"]
    assert call["name"] == "emit_commit" and json.loads(call["arguments"])["commit"]["hunks"] == ["a.py::1"]
    assert parse_tool_calls("no call here") == {"role": "assistant", "content": "no call here"}
    broken = parse_tool_calls("<tool_call>{not json")["tool_calls"][0]["function"]
    assert broken["arguments"] == "{not json"


@pytest.mark.slow
def test_an_adapter_plays_the_same_loop(tmp_path, tiny_adapter):  # noqa: F811
    base, adapter = tiny_adapter
    examples = load_labeled(tmp_path, 2)
    run = runs.create_eval_run(
        name="tiny adapter", example_ids=[e.pk for e in examples], examples_source="test", enqueue=False,
        backend=EvalRun.Backend.ADAPTER, base_model_path=str(base), adapter_path=str(adapter), max_tokens=8,
        target=EvalRun.Target.GIT_SMART_COMMIT, concurrency=1)
    run = execute_job(run.job_label, run.pk)
    assert run.state == JobState.SUCCEEDED, run.error
    preds = list(run.predictions.all())
    # A random tiny model never calls a tool: every episode is stored, nudged and counted, not a crash.
    assert len(preds) == 2 and all(p.transcript and p.outcome != "finalized" for p in preds)
    assert all(p.counters["no_tool_call"] >= 1 for p in preds)
    assert run.summary["overall"]["finalized"]["mean"] == 0.0


class _Scripted(JSONHandler):
    """Per episode: scripted answers by the number of assistant turns so far; any other turn is the
    baseline's answer to the conversation less the scripted turns (and the tool's replies to them)."""

    def do_POST(self):  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        messages, tools = request["messages"], request.get("tools")
        n = sum(m.get("role") == "assistant" for m in messages)
        script = self.server.script
        if tools and n in script:
            message = script[n](messages, tools)
        else:
            message = baseline_protocol.answer(_without(messages, set(script)), tools)
        self._send(200, {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})


def _without(messages: list[dict], scripted: set[int]) -> list[dict]:
    out, skip, n = [], False, -1
    for m in messages:
        if m.get("role") == "assistant":
            n += 1
            skip = n in scripted
        if not (skip and m.get("role") in ("assistant", "user", "tool")):
            out.append(m)
    return out


def _baseline_first_emit(messages, tools):
    return baseline_protocol.answer(messages[:2], tools)


SCRIPTS = {
    # a commit emitted again: every hunk of it is a duplicate
    "duplicate_id": ({1: _baseline_first_emit}, {"duplicate_id": 1}),
    # finalize before any commit: rejected, hunks still unassigned
    "finalize_rejected": ({0: lambda m, t: tool_call_message("c0", "finalize_commits", {})}, {"finalize_rejected": 1}),
    # arguments the tool's parser cannot read
    "malformed": ({0: lambda m, t: {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c0", "type": "function", "function": {"name": EMIT, "arguments": "{\"commit\": "}}]}},
        {"malformed_arguments": 1}),
}


@pytest.mark.parametrize("kind", list(SCRIPTS))
def test_each_scripted_mistake_is_counted_on_the_report(kind, tmp_path, staff_client):
    script, counted = SCRIPTS[kind]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.verbose, server.daemon_threads, server.script = False, True, script
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        examples = load_labeled(tmp_path, 2)
        run = make_run(examples, f"http://127.0.0.1:{server.server_address[1]}/v1")
        run = execute_job(run.job_label, run.pk)
    finally:
        server.shutdown()
        server.server_close()
    assert run.state == JobState.SUCCEEDED, run.error
    preds = list(run.predictions.all())
    for name, value in counted.items():
        assert all(p.counters[name] == value for p in preds), [p.counters for p in preds]
    metric = {"malformed_arguments": "malformed"}.get(kind, kind)
    assert run.summary["overall"][metric]["mean"] == 1.0
    html = staff_client.get(reverse("eval-run-detail", args=[run.pk])).content.decode()
    label = METRICS[metric][0]
    assert "1.000" in html[html.index(label):][:300]
