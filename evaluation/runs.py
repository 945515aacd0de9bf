"""Eval runs: choosing examples, running a system on them, scoring and reports (views, command, worker)."""
from __future__ import annotations

import asyncio
import json
import os
import queue
import statistics
import threading
import time
from dataclasses import dataclass

from django.db import transaction

from gsctune.domain import metrics, protocol_metrics, stats
from gsctune.domain.hunks import LabelConversionError, split_diff, tool_view
from gsctune.domain.llm_client import CallResult, ClientConfig, TeacherClient, Usage
from gsctune.domain.prompts import DEFAULT_PROMPT, build_finetune_messages, build_messages
from gsctune.domain.proposal import json_candidates, parse_proposal
from gsctune.domain.protocol import BUILTIN, ProtocolSpec
from gsctune.domain.protocol_eval import EndpointCandidate, EpisodeResult, run_protocol_episode
from gsctune.domain.seeding import seeded_int
from gsctune.rules import commit_rules
from labeling.models import Example, Label, SFTExport

from .models import EvalRun, Prediction

BOOT = 1000


class EvalError(ValueError):
    """Bad input for an eval run or a comparison set; the message says what to fix."""


# --------------------------------------------------------------------------- choosing examples

def sample_example_ids(n: int, seed: int, *, labeled_only: bool = True, language: str = "",
                       repo: str = "") -> list[int]:
    """A uniform random sample (seeded hash order, so the same seed gives the same examples)."""
    qs = Example.objects.all()
    if labeled_only:
        qs = qs.filter(labels__isnull=False).distinct()
    if language:
        qs = qs.with_language(language)
    if repo:
        qs = qs.filter(repo_url=repo)
    rows = sorted(qs.values_list("id", "key"), key=lambda r: seeded_int(f"{seed}:{r[1]}"))
    if not rows:
        raise EvalError("no examples match (labeled examples are needed as references)")
    return [pk for pk, _ in rows[:n]]


def export_example_ids(export_id: int) -> list[int]:
    """The validation split of an SFT export snapshot, from the provenance in its manifest."""
    export = SFTExport.objects.filter(pk=export_id).first()
    if export is None:
        raise EvalError(f"export {export_id} does not exist")
    try:
        manifest = json.loads(export.file_path("manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"export {export_id} has no readable manifest.json ({exc}); has it finished?") from None
    keys = [r["key"] for r in manifest.get("records", []) if r.get("split") == "val"]
    by_key = dict(Example.objects.filter(key__in=keys).values_list("key", "id"))
    ids = [by_key[k] for k in keys if k in by_key]
    if not ids:
        raise EvalError(f"export {export_id} has no validation examples in the database")
    return ids


def resolve_examples(*, export_id: int | None = None, sample: int | None = None, seed: int = 0,
                     language: str = "", labeled_only: bool = True) -> tuple[list[int], str]:
    """The examples an eval run scores, and how they were chosen (the page and the command alike).

    An export's validation split when ``export_id`` is given, else a seeded sample of ``sample``.
    """
    if export_id is not None:
        return export_example_ids(export_id), f"export {export_id} validation split"
    ids = sample_example_ids(sample or 0, seed, language=language, labeled_only=labeled_only)
    return ids, f"sample of {len(ids)} (seed {seed}{', ' + language if language else ''})"


def reference_labels(example_ids, fields: tuple[str, ...] = ()) -> dict[int, Label]:
    """Per example the label to score against: the latest human correction, else the latest other label.

    ``fields`` loads only those columns (besides the ones the choice needs).
    """
    labels = Label.objects.filter(example_id__in=list(example_ids)).order_by("id")
    if fields:
        labels = labels.only("id", "example_id", "source", *fields)
    refs: dict[int, Label] = {}
    for label in labels:
        current = refs.get(label.example_id)
        if current is None or label.source == Label.Source.HUMAN or current.source != Label.Source.HUMAN:
            refs[label.example_id] = label
    return refs


def _model_key(name: str) -> str:
    """A model name without its provider prefix: "qwen/qwen3-coder" and "qwen3-coder" are one model."""
    return name.strip().lower().rsplit("/", 1)[-1]


def circularity(run: EvalRun) -> dict | None:
    """The references written by the very model this run evaluates, if any.

    Scoring a model against its own labels measures how much it agrees with itself, not how
    good it is; the run page and `manage.py evaluate` say so. Human corrections never count.
    """
    if run.backend != EvalRun.Backend.ENDPOINT or not run.model.strip():
        return None
    refs = reference_labels(run.example_ids, fields=("model",))
    same = [label for label in refs.values()
            if label.source != Label.Source.HUMAN and _model_key(label.model) == _model_key(run.model)]
    if not same:
        return None
    detail = (f"{len(same)} of {len(refs)} reference labels were written by {same[0].model}, the model this run "
              "evaluates. On those examples the scores measure agreement with its own labels, not quality; review "
              "and correct the labels, or evaluate another model.")
    return {"model": run.model, "label_model": same[0].model, "n": len(same), "total": len(refs), "detail": detail}


def circularity_message(info: dict) -> str:
    return f"Circular evaluation: {info['detail']}"


def example_record(example: Example, label: Label | None) -> dict:
    """The example as the system sees it: with the reference label's injected junk, if any."""
    if label is not None:
        record = label.as_labeled()
        record.pop("label")
        return record
    record = example.as_harvested()
    record.update(noise_injected=False, injected_files=[])
    return record


def prompt_messages(run: EvalRun, record: dict) -> list[dict]:
    if run.prompt_kind == EvalRun.PromptKind.LABELING:
        return build_messages(record, run.prompt_version or DEFAULT_PROMPT, run.max_diff_chars)
    return build_finetune_messages(record["changed_files"], record["diff"], run.max_diff_chars)


# --------------------------------------------------------------------------- creating and running

def create_eval_run(*, name: str, example_ids: list[int], examples_source: str, user=None,
                    enqueue: bool = True, **fields) -> EvalRun:
    """Store a run with its resolved example list; queue it once the transaction commits."""
    if not example_ids:
        raise EvalError("the run has no examples")
    backend = fields.get("backend", EvalRun.Backend.ENDPOINT)
    if backend == EvalRun.Backend.ENDPOINT and not (fields.get("base_url") and fields.get("model")):
        raise EvalError("an endpoint run needs a base URL and a model name")
    if backend == EvalRun.Backend.ADAPTER and not (fields.get("base_model_path") and fields.get("adapter_path")):
        raise EvalError("an adapter run needs the base model folder and the adapter folder")
    with transaction.atomic():
        run = EvalRun.objects.create(name=name, example_ids=list(example_ids), examples_source=examples_source,
                                     progress_total=len(example_ids), created_by=user, **fields)
        if enqueue:
            run.enqueue()
    return run


@dataclass
class _Item:
    example: Example
    reference: Label | None
    record: dict
    messages: list[dict]


def run_eval(run: EvalRun, progress) -> None:
    """Predict every example not yet predicted, score each as it arrives, then summarize."""
    run.predictions.exclude(error="").delete()  # remote failures are retried on resume
    done = set(run.predictions.values_list("example_id", flat=True))
    todo = [pk for pk in run.example_ids if pk not in done]
    progress.set_total(len(run.example_ids))
    progress.set_counts(len(done))
    examples = Example.objects.in_bulk(todo)
    refs = reference_labels(todo)
    items = []
    for pk in todo:
        if pk not in examples:
            continue  # deleted since the run was created
        record = example_record(examples[pk], refs.get(pk))
        items.append(_Item(examples[pk], refs.get(pk), record, [] if run.is_protocol else prompt_messages(run, record)))
    progress.message(f"{len(items)} examples to predict with {run.system_label}")
    if run.is_protocol:
        source = _protocol_results(run, items)
    elif run.backend == EvalRun.Backend.ENDPOINT:
        source = _endpoint_results(run, items)
    else:
        source = _adapter_results(run, items)
    save = save_episode if run.is_protocol else save_prediction
    give_up_after = max(5, run.concurrency)
    answered = failed_in_a_row = 0
    try:
        for item, result in source:
            prediction = save(run, item, result)
            progress.advance(done=0 if prediction.failed else 1, failed=1 if prediction.failed else 0)
            answered += not prediction.failed
            failed_in_a_row = failed_in_a_row + 1 if prediction.failed else 0
            if not answered and failed_in_a_row >= give_up_after:
                # A wrong URL, model name or key fails every request: stop instead of retrying them all.
                raise EvalError(f"the first {failed_in_a_row} requests all failed ({prediction.error}); "
                                "check the base URL, the model name and the API key variable")
            progress.raise_if_cancelled()
    finally:
        close = getattr(source, "close", None)
        if close:
            close()
        run.summary = summarize_run(run)
        EvalRun.objects.filter(pk=run.pk).update(summary=run.summary)
    failed = run.predictions.exclude(error="").count()
    progress.message(f"done: {run.predictions.count() - failed} predicted, {failed} request failures")


def save_prediction(run: EvalRun, item: _Item, result: CallResult) -> Prediction:
    """Store one output whole and its per-prediction metrics (remote failures are kept, unscored)."""
    remote_failure = result.error_kind not in ("", "unparseable", "truncated", "empty")
    proposal = result.proposal.to_label_dict() if result.proposal is not None else None
    json_found = proposal is not None or bool(result.text and json_candidates(result.text)[0])
    reference = None
    if item.reference is not None:
        reference = {"commits": item.reference.commits, "gitignore": item.reference.gitignore}
    scores = {} if remote_failure else metrics.score_prediction(proposal, item.record, reference, parsed=json_found,
                                                                   rules=commit_rules())
    return Prediction.objects.create(
        run=run, example=item.example, reference=item.reference, raw=result.text, proposal=proposal,
        json_found=json_found, parse_error="" if proposal is not None else result.error,
        error_kind=result.error_kind, error=result.error if remote_failure else "",
        finish_reason=result.finish_reason, latency_s=result.latency_s,
        prompt_tokens=result.usage.prompt_tokens, completion_tokens=result.usage.completion_tokens,
        attempts=result.attempts, scores=scores,
    )


def protocol_spec(run: EvalRun) -> ProtocolSpec:
    """The protocol the run plays: its version's (``ProtocolVersion.to_spec``, the same the
    export renders with), else the built-in one."""
    version = run.protocol_version
    return BUILTIN if version is None else version.to_spec()


def save_episode(run: EvalRun, item: _Item, result: EpisodeResult) -> Prediction:
    """Store one protocol episode whole (final commits, outcome, counters, transcript) with its metrics.

    An episode the endpoint could not answer (outcome ``error``) is kept as a request
    failure: not scored, retried on resume, like a failed request of a file-level run.
    """
    diff = item.record["diff"]
    hunks = tool_view(split_diff(diff))
    reference = None
    if item.reference is not None:
        reference = {"commits": item.reference.commits, "gitignore": item.reference.gitignore}
        try:
            protocol_metrics.reference_commits(reference, hunks)
        except LabelConversionError:
            reference = None  # a reference naming files the diff lacks cannot be mapped to hunks
    failed = result.outcome == "error"
    scores = {} if failed else protocol_metrics.score_episode(
        result, hunks, reference=reference, original_commits=item.example.original_commits,
        junk_files=item.record.get("injected_files") or (), diff=diff)
    proposal = {"commits": result.commits, "skipped_hunks": result.skipped_hunks, "gitignore": result.gitignore}
    return Prediction.objects.create(
        run=run, example=item.example, reference=item.reference, proposal=proposal if result.finalized else None,
        json_found=result.finalized, parse_error="" if result.finalized or failed else result.reason,
        error_kind="request" if failed else result.outcome, error=result.reason if failed else "",
        finish_reason=result.outcome, attempts=result.counters.get("turns_used", 0), scores=scores,
        outcome=result.outcome, counters=result.counters, transcript=result.transcript,
        latency_s=result.wall_s, request_latencies=result.request_latencies,
    )


_DONE = object()


def _endpoint_results(run: EvalRun, items: list[_Item]):
    """Yield (item, CallResult) as answers arrive; the HTTP calls run on an event loop in a side thread.

    Database writes stay in the job's thread; the loop only talks HTTP. Bounded
    by the run's concurrency, with the labeling client's retry rules and no
    repair turn (an eval measures the first answer).
    """
    api_key = os.environ.get(run.api_key_env, "") if run.api_key_env else ""
    config = ClientConfig(base_url=run.base_url, model=run.model, api_key=api_key, temperature=run.temperature,
                          max_tokens=run.max_tokens, timeout=run.timeout_s, concurrency=max(1, run.concurrency),
                          max_repairs=0)

    async def main(results: queue.Queue, stop: threading.Event) -> None:
        pending = iter(items)
        async with TeacherClient(config) as client:
            async def worker() -> None:
                for item in pending:
                    if stop.is_set():
                        return
                    results.put((item, await client.complete(item.messages)))

            await asyncio.gather(*(worker() for _ in range(config.concurrency)))

    return _threaded(run, main)


def _protocol_results(run: EvalRun, items: list[_Item]):
    """Yield (item, EpisodeResult): one git-smart-commit episode per example against the endpoint
    (with its retry rules) or the adapter, ``run.concurrency`` episodes at once."""
    api_key = os.environ.get(run.api_key_env, "") if run.api_key_env else ""
    spec = protocol_spec(run)
    # Native Ollama's /api/chat sits at the server root, beside its /v1.
    base_url = run.base_url.removesuffix("/v1") if run.protocol_backend == "ollama" else run.base_url

    async def main(results: queue.Queue, stop: threading.Event) -> None:
        pending = iter(items)
        if run.backend == EvalRun.Backend.ADAPTER:
            from .adapter_candidate import AdapterCandidate  # torch: only on workers that run adapters

            opened = AdapterCandidate(run.base_model_path, run.adapter_path, run.max_tokens)
        else:
            opened = EndpointCandidate(base_url, run.model, api_key=api_key, backend=run.protocol_backend,
                                       timeout=run.timeout_s)
        async with opened as candidate:
            async def worker() -> None:
                for item in pending:
                    if stop.is_set():
                        return
                    results.put((item, await run_protocol_episode(item.record["diff"], candidate, spec,
                                                                  run.protocol_backend)))

            await asyncio.gather(*(worker() for _ in range(max(1, run.concurrency))))

    return _threaded(run, main)


def _threaded(run: EvalRun, main):
    """Run ``main(results, stop)`` on an event loop in a side thread and yield what it puts."""
    results: queue.Queue = queue.Queue()
    stop = threading.Event()

    def loop() -> None:
        try:
            asyncio.run(main(results, stop))
        except BaseException as exc:  # handed to the job's thread, which fails the job
            results.put(exc)
        finally:
            results.put(_DONE)

    thread = threading.Thread(target=loop, name=f"eval-{run.pk}", daemon=True)
    thread.start()
    try:
        while (got := results.get()) is not _DONE:
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        thread.join(timeout=5)


def _adapter_results(run: EvalRun, items: list[_Item]):
    """Yield (item, CallResult) from a base model + PEFT adapter generating greedily on this worker."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run.adapter_path)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    base = AutoModelForCausalLM.from_pretrained(run.base_model_path, dtype=dtype)
    model = PeftModel.from_pretrained(base, run.adapter_path).to(device).eval()
    for item in items:
        started = time.perf_counter()
        ids = tokenizer.apply_chat_template(item.messages, add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)
        ids = {k: v.to(device) for k, v in ids.items()}
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=run.max_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        new = out[0, ids["input_ids"].shape[1]:]
        text = tokenizer.decode(new, skip_special_tokens=True)
        parsed = parse_proposal(text)
        hit_limit = len(new) >= run.max_tokens and (tokenizer.eos_token_id not in new.tolist())
        result = CallResult(text=text, proposal=parsed.proposal, finish_reason="length" if hit_limit else "stop",
                            usage=Usage(int(ids["input_ids"].shape[1]), int(len(new))), attempts=1,
                            model=run.adapter_path, latency_s=time.perf_counter() - started)
        if not parsed.ok:
            result.error_kind = "truncated" if hit_limit else ("unparseable" if text.strip() else "empty")
            result.error = parsed.error if text.strip() else "the answer is empty"
        yield item, result


# --------------------------------------------------------------------------- reports

def _scored(run: EvalRun):
    return (run.predictions.filter(error="").select_related("example")
            .only("scores", "latency_s", "prompt_tokens", "completion_tokens", "example__languages",
                  "example__diff_chars"))


def summarize_run(run: EvalRun) -> dict:
    """Overall metrics, breakdowns by language and diff size, cost and latency (stored on the run)."""
    if run.is_protocol:
        return summarize_protocol_run(run)
    preds = list(_scored(run))
    rows = [p.scores for p in preds]
    langs = [p.example.languages or ["(none)"] for p in preds]
    sizes = [[metrics.diff_size_bucket(p.example.diff_chars)] for p in preds]
    latencies = [p.latency_s for p in preds]
    size_order = [name for _, name in metrics.DIFF_SIZE_BUCKETS]
    by_size = metrics.breakdown(rows, sizes, n_boot=BOOT)
    return {
        "n": len(rows),
        "failed": run.predictions.exclude(error="").count(),
        "overall": metrics.aggregate(rows, n_boot=BOOT),
        "by_language": metrics.breakdown(rows, langs, n_boot=BOOT),
        "by_size": {k: by_size[k] for k in size_order if k in by_size},
        "latency": latency_stats(latencies),
        "tokens": {"prompt": sum(p.prompt_tokens for p in preds),
                   "completion": sum(p.completion_tokens for p in preds)},
    }


def latency_stats(values: list[float]) -> dict:
    """Mean, p50, p90 and max (None where there are too few values) and n."""
    return {
        "mean": statistics.fmean(values) if values else None,
        "p50": statistics.median(values) if values else None,
        "p90": statistics.quantiles(values, n=10)[-1] if len(values) >= 2 else None,
        "max": max(values) if values else None,
        "n": len(values),
    }


def summarize_protocol_run(run: EvalRun) -> dict:
    """Every protocol and hunk-level grouping metric with its 95 % interval, the outcomes, and the
    latency of episodes (wall time) and of single candidate requests."""
    preds = list(run.predictions.filter(error="").only("scores", "outcome", "latency_s", "request_latencies"))
    outcomes: dict[str, int] = {}
    for p in preds:
        outcomes[p.outcome] = outcomes.get(p.outcome, 0) + 1
    return {
        "target": run.target,
        "n": len(preds),
        "failed": run.predictions.exclude(error="").count(),
        "overall": protocol_metrics.aggregate([p.scores for p in preds], n_boot=BOOT),
        "outcomes": outcomes,
        "episode_latency": latency_stats([p.latency_s for p in preds]),
        "request_latency": latency_stats([s for p in preds for s in p.request_latencies or ()]),
        "by_language": {},
        "by_size": {},
    }


# Rows the 0..1 interval chart leaves out: per-episode counts, and the schema flag.
OFF_CHART = {"schema_valid", "turns", "malformed", "unknown_id", "duplicate_id", "finalize_rejected", "unassigned",
             "investigation"}


def metric_names(target: str) -> dict[str, tuple[str, bool]]:
    """The metrics a run of this target reports: name -> (label, higher is better)."""
    return protocol_metrics.METRICS if target == EvalRun.Target.GIT_SMART_COMMIT else metrics.METRICS


def metric_table(summary: dict) -> list[dict]:
    """Rows for the metric table: label, direction, mean, interval, n."""
    overall = summary.get("overall") or {}
    rows = []
    for name, (label, higher) in metric_names(summary.get("target", "")).items():
        cell = overall.get(name) or {"mean": None, "lo": None, "hi": None, "n": 0}
        rows.append({"name": name, "label": label, "higher_is_better": higher, **cell})
    return rows


def format_table(summary: dict) -> str:
    """The metric table as plain text (management command)."""
    lines = [f"{'metric':42s} {'mean':>7s} {'95% interval':>17s} {'n':>6s}"]
    for row in metric_table(summary):
        if row["n"]:
            lines.append(f"{row['label']:42s} {row['mean']:7.3f} [{row['lo']:6.3f}, {row['hi']:6.3f}] {row['n']:6d}")
        else:
            lines.append(f"{row['label']:42s} {'-':>7s} {'':17s} {0:6d}")
    if summary.get("outcomes"):
        lines.append("\noutcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["outcomes"].items())))
    episode, request = summary.get("episode_latency") or {}, summary.get("request_latency") or {}
    if episode.get("mean") is not None:
        line = f"episode wall time mean {episode['mean']:.2f} s, p50 {episode['p50']:.2f} s"
        if request.get("mean") is not None:
            line += f"; {request['n']} requests, latency mean {request['mean']:.3f} s, p50 {request['p50']:.3f} s"
        lines.append(line)
    lat = summary.get("latency") or {}
    if lat.get("mean") is not None:
        lines.append(f"\npredictions {summary['n']} (request failures {summary['failed']}); latency mean "
                     f"{lat['mean']:.2f} s, p50 {lat['p50']:.2f} s; tokens {summary['tokens']['prompt']} in, "
                     f"{summary['tokens']['completion']} out")
    return "\n".join(lines)


def compare_runs(runs: list[EvalRun]) -> list[dict]:
    """Per metric: each run's mean and interval, and its paired difference to the first run.

    The difference is taken on the examples both runs scored, with a bootstrap
    interval over those examples, so runs on different samples are not
    compared as if they were paired.
    """
    per_run = [{p["example_id"]: p["scores"] for p in r.predictions.filter(error="").values("example_id", "scores")}
               for r in runs]
    rows = []
    for name, (label, higher) in metric_names(runs[0].target).items():
        cells = []
        for i, run in enumerate(runs):
            cell = dict((run.summary.get("overall") or {}).get(name) or {"mean": None, "n": 0})
            if i:
                base, other = per_run[0], per_run[i]
                diffs = [other[k][name] - base[k][name] for k in base.keys() & other.keys()
                         if base[k].get(name) is not None and other[k].get(name) is not None]
                d = stats.mean_ci(diffs, n_boot=BOOT, seed=i)
                cell["diff"] = d
                if d["n"] and d["lo"] is not None:
                    better = d["lo"] > 0 if higher else d["hi"] < 0
                    worse = d["hi"] < 0 if higher else d["lo"] > 0
                    cell["verdict"] = "better" if better else "worse" if worse else "same"
            cells.append(cell)
        rows.append({"name": name, "label": label, "higher_is_better": higher, "cells": cells})
    return rows


def transcript_rows(transcript: list[dict]) -> list[dict]:
    """A stored episode's messages for the prediction page: kind, turn, text and each tool call's
    name and arguments as pretty JSON (untrusted model text: the template escapes it)."""
    rows = []
    for entry in transcript or ():
        calls = []
        for call in entry.get("tool_calls") or ():
            function = call.get("function") or {} if isinstance(call, dict) else {}
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except ValueError:
                    pass  # shown as sent: unreadable arguments are one of the mistakes measured
            calls.append({"name": str(function.get("name") or "?"),
                          "arguments": arguments if isinstance(arguments, str)
                          else json.dumps(arguments, indent=1, ensure_ascii=False)})
        rows.append({"turn": entry.get("turn", 0), "kind": entry.get("kind") or entry.get("role") or "?",
                     "role": entry.get("role") or "", "content": str(entry.get("content") or ""), "calls": calls,
                     "msg_id": entry.get("msg_id", ""), "latency_s": entry.get("latency_s")})
    return rows
