"""Labeling runs: teachers label examples, nothing lost, nothing twice.

One service for the web page, the ``label`` command and the Celery task. The
HTTP side runs on an asyncio event loop in a helper thread (the official
``openai`` client, a pool sized to the concurrency); every database write
happens in the calling thread, one label per transaction, so a worker killed
at any moment leaves only whole labels behind. The database decides what is
left: an execution labels the selected examples that have neither a label
nor a failure in this run, so a re-delivered task continues where the killed
one stopped, and ``LabelingRun.resume()`` retries the failures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gsctune.domain.baseline import BASELINE_MODEL
from gsctune.domain.hunk_proposal import example_hunk_view, hunk_prompt, parse_hunk_proposal
from gsctune.domain.hunks import Hunk, render_user_turn
from gsctune.domain.llm_client import CallResult, ClientConfig, TeacherClient
from gsctune.domain.noise import Noise, apply_noise, make_noise
from gsctune.domain.prompts import (
    DEFAULT_OUTPUT_FORMAT,
    DEFAULT_PROMPT_NAME,
    DEFAULT_SAMPLE_OUTPUT,
    DEFAULT_SYSTEM_PROMPT,
    build_user_turn,
    system_text,
)

from ..labels import store_labels_skipping_duplicates
from ..models import Example, Label, LabelFailure, LabelingRun, PromptVersion, Teacher

logger = logging.getLogger(__name__)

# Stop a run whose teacher cannot be reached at all instead of failing every example slowly.
UNREACHABLE_AFTER = 12
UNREACHABLE_KINDS = {"connection", "timeout", "http_error"}
STATS_INTERVAL = 0.5
LAST_ERRORS = 10


class SelectionError(ValueError):
    """The run's selection names examples that do not exist or is empty."""


# --------------------------------------------------------------------------- prompts, teachers

def default_prompt_version() -> PromptVersion:
    """The shipped prompt, created once (same texts, same row)."""
    version = PromptVersion(name=DEFAULT_PROMPT_NAME, system_prompt=DEFAULT_SYSTEM_PROMPT,
                            output_format=DEFAULT_OUTPUT_FORMAT, sample_output=DEFAULT_SAMPLE_OUTPUT)
    existing = PromptVersion.objects.filter(content_hash=version.compute_hash()).first()
    if existing:
        return existing
    version.is_default = True
    version.save()
    return version


def create_prompt_version(name: str, system_prompt: str, output_format: str = "", sample_output: str = "",
                          user=None, notes: str = "", granularity: str = "files",
                          protocol_version=None) -> tuple[PromptVersion, bool]:
    """A new immutable version, or the existing one with exactly these texts."""
    version = PromptVersion(name=name.strip() or "custom", system_prompt=system_prompt, output_format=output_format,
                            sample_output=sample_output, created_by=user, notes=notes, granularity=granularity,
                            protocol_version=protocol_version)
    existing = PromptVersion.objects.filter(content_hash=version.compute_hash()).first()
    if existing:
        return existing, False
    version.save()
    return version, True


def hunk_prompt_from_protocol(version, user=None) -> tuple[PromptVersion, bool]:
    """A hunk-level prompt version: the protocol's captured system prompt (so the student learns
    the tool's own conventions) plus gsctune's hunk answer format, linked to the version. The same texts
    give the same version (an unlinked, unused one with these texts gets the link)."""
    spec = hunk_prompt(version.system_prompt)
    prompt, created = create_prompt_version(
        f"hunks from protocol #{version.pk}", spec.system_prompt, spec.output_format, spec.sample_output, user=user,
        notes=f"Made from {version} ({version.get_source_display()}).", granularity=PromptVersion.Granularity.HUNKS,
        protocol_version=version)
    if not created and prompt.protocol_version_id is None and not prompt.is_used:
        prompt.protocol_version = version
        prompt.save(update_fields=["protocol_version"])
    return prompt, created


def teacher_title(teacher: Teacher, kind: bool = True) -> str:
    """How pages and messages name a teacher: its kind and model only where its name lacks them.

    "teacher openrouter (qwen/qwen3-coder)", "baseline" (not "Baseline baseline (baseline)").
    ``kind=False`` leaves out "teacher" (a menu labelled Teacher), never "baseline".
    """
    name = teacher.name
    hide_kind = teacher.kind in name.lower() or (not kind and not teacher.is_baseline)
    words = [] if hide_kind else [teacher.kind]
    words.append(name)
    model = teacher.model
    if model.lower() not in name.lower() and not (teacher.is_baseline and model in (BASELINE_MODEL, "baseline")):
        words.append(f"({model})")
    return " ".join(words)


def teacher_for(base_url: str, model: str, api_key_env: str = "", **fields) -> Teacher:
    """The teacher with this endpoint, model and key variable; created if new (CLI use)."""
    base_url = base_url.rstrip("/")
    teacher = Teacher.objects.filter(base_url=base_url, model=model, api_key_env=api_key_env).first()
    if teacher:
        changed = {k: v for k, v in fields.items() if v is not None and getattr(teacher, k) != v}
        if changed:
            Teacher.objects.filter(pk=teacher.pk).update(**changed)
            teacher.refresh_from_db()
        return teacher
    host = urlsplit(base_url).netloc or base_url
    name = f"{model} @ {host}"[:100]
    suffix = 2
    while Teacher.objects.filter(name=name).exists():
        name = f"{model} @ {host} ({suffix})"[:100]
        suffix += 1
    teacher = Teacher(name=name, base_url=base_url, model=model, api_key_env=api_key_env,
                      is_baseline=(model == BASELINE_MODEL), **{k: v for k, v in fields.items() if v is not None})
    teacher.full_clean()
    teacher.save()
    return teacher


def effective_concurrency(teacher: Teacher, requested: int | None) -> int:
    """What runs: the request, capped at the teacher's maximum (blank: the maximum)."""
    return max(1, min(requested or teacher.max_concurrency, teacher.max_concurrency))


def client_config(teacher: Teacher, concurrency: int | None = None) -> ClientConfig:
    """Client settings from the teacher; the retry policy from settings.LABELING_RETRY."""
    return ClientConfig(
        **settings.LABELING_RETRY,
        base_url=teacher.base_url, model=teacher.model, api_key=teacher.api_key(),
        temperature=teacher.temperature, max_tokens=teacher.max_output_tokens,
        reasoning_effort=teacher.reasoning_effort, timeout=teacher.request_timeout,
        concurrency=effective_concurrency(teacher, concurrency),
    )


# --------------------------------------------------------------------------- creating runs

def find_examples(items: list[str]) -> tuple[list[int], list[str]]:
    """Example ids for listed ids or keys, in order without repeats, and the items that match none."""
    wanted = [str(x).strip() for x in items if str(x).strip()]
    by_key = dict(Example.objects.filter(key__in=wanted).values_list("key", "pk"))
    numeric = {int(x) for x in wanted if x.isdigit()}
    by_id = set(Example.objects.filter(pk__in=numeric).values_list("pk", flat=True))
    ids, missing = [], []
    for item in wanted:
        pk = by_key.get(item) or (int(item) if item.isdigit() and int(item) in by_id else None)
        if pk:
            ids.append(pk)
        else:
            missing.append(item)
    return list(dict.fromkeys(ids)), missing


def _missing_text(missing: list[str], listed: int) -> str:
    shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
    return f"{len(missing)} of {listed} listed examples do not exist: {shown}"


def create_run(teacher: Teacher, prompt_version: PromptVersion | None = None, *, user=None, enqueue: bool = True,
               **options) -> LabelingRun:
    """Validate and store a run; queue it on the worker once the transaction commits.

    An explicit list is checked here, before queueing, so an unknown id is named at once
    rather than failing the run on the worker.
    """
    run = LabelingRun(teacher=teacher, prompt_version=prompt_version or default_prompt_version(),
                      created_by=user, price_input_per_million=teacher.price_input_per_million,
                      price_output_per_million=teacher.price_output_per_million, **options)
    if run.selection == LabelingRun.Selection.SAMPLE and not run.sample_size:
        raise SelectionError("a sample needs a sample size")
    if run.selection == LabelingRun.Selection.LIST:
        if not run.example_list:
            raise SelectionError("an explicit list needs at least one example id or key")
        _, missing = find_examples(run.example_list)
        if missing:
            raise SelectionError(_missing_text(missing, len(run.example_list)))
    run.full_clean(exclude=["created_by"])
    run.save()
    if enqueue:
        run.enqueue()
    return run


def _selection_queryset(run: LabelingRun):
    qs = Example.objects.all()
    if run.selection == LabelingRun.Selection.UNLABELED:
        done = Label.objects.filter(teacher=run.teacher, prompt_version=run.prompt_version).exclude(run=run)
        qs = qs.exclude(pk__in=done.values("example_id"))
    elif run.selection == LabelingRun.Selection.FILTER:
        if run.filter_repo:
            qs = qs.filter(repo_url__icontains=run.filter_repo)
        if run.filter_language:
            qs = qs.with_language(run.filter_language)
        if run.filter_max_diff_chars:
            qs = qs.filter(diff_chars__lte=run.filter_max_diff_chars)
    return qs


def resolve_selection(run: LabelingRun) -> list[int]:
    """Example ids the run labels, in order. Frozen on first use (see ``selected_ids``)."""
    if run.selected_ids is not None:
        return list(run.selected_ids)
    if run.selection == LabelingRun.Selection.LIST:
        ids, missing = find_examples(run.example_list)
        if missing:  # deleted since the run was created
            raise SelectionError(_missing_text(missing, len(run.example_list)))
    else:
        ids = list(_selection_queryset(run).order_by("pk").values_list("pk", flat=True))
        if run.selection == LabelingRun.Selection.SAMPLE:
            size = min(run.sample_size or 0, len(ids))
            ids = sorted(random.Random(run.selection_seed).sample(ids, size))
    if run.limit:
        ids = ids[: run.limit]
    LabelingRun.objects.filter(pk=run.pk).update(selected_ids=ids)
    run.selected_ids = ids
    return ids


# --------------------------------------------------------------------------- messages

def example_noise(run: LabelingRun, example: Example) -> Noise:
    return make_noise(example.key, list(example.changed_files), run.noise_seed, run.noise_probability,
                      list(example.existing_gitignore))


def messages_for(system: str, changed_files: list[str], diff: str, max_diff_chars: int) -> list[dict]:
    """The messages a run sends for one example: the one place they are built, for runs and rebuilds."""
    return [{"role": "system", "content": system},
            {"role": "user", "content": build_user_turn(changed_files, diff, max_diff_chars)}]


def hunk_messages_for(system: str, hunks: list[Hunk]) -> list[dict]:
    """A hunk-level prompt's messages: the user turn lists the hunks as git-smart-commit does."""
    return [{"role": "system", "content": system}, {"role": "user", "content": render_user_turn(hunks)}]


def hunks_for(example: Example, diff: str, show_new_content: bool = False) -> list[Hunk]:
    """The hunk list a hunk-level teacher sees for ``diff`` (the example's, junk included): as
    the tool shows it, or with new files' content (the run's ``teacher_sees_new_content``)."""
    return example_hunk_view({"diff": diff, "existing_gitignore": list(example.existing_gitignore or [])},
                             show_new_content=show_new_content)


def label_messages(label: Label) -> list[dict]:
    """The exact messages a run label was made from, rebuilt from stored data."""
    if not label.run_id or not label.prompt_version_id:
        raise ValueError("only labels from a labeling run record their prompt")
    if label.prompt_version.granularity == PromptVersion.Granularity.HUNKS:
        return hunk_messages_for(system_text(label.prompt_version),
                                 hunks_for(label.example, label.diff, label.run.teacher_sees_new_content))
    return messages_for(system_text(label.prompt_version), label.changed_files, label.diff,
                        label.run.max_diff_chars)


# --------------------------------------------------------------------------- executing runs

@dataclass
class _Item:
    example: Example
    noise: Noise
    noise_diff: str


class _LoopThread:
    """An asyncio loop in a helper thread; the caller's thread keeps the database."""

    def __enter__(self) -> _LoopThread:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="labeling-http", daemon=True)
        self.thread.start()
        return self

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def __exit__(self, *exc) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.submit(cancel_all()).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def _usage_sum(rows) -> tuple[int, int]:
    prompt = completion = 0
    for usage in rows:
        usage = usage or {}
        prompt += int(usage.get("prompt_tokens") or 0)
        completion += int(usage.get("completion_tokens") or 0)
    return prompt, completion


def recount(run: LabelingRun) -> dict:
    """Counters from the database (the truth after a crash): labels, failures, tokens."""
    labels = Label.objects.filter(run=run)
    failures = LabelFailure.objects.filter(run=run)
    lp, lc = _usage_sum(labels.values_list("usage", flat=True))
    fp, fc = _usage_sum(failures.values_list("usage", flat=True))
    latency = sum(ms or 0 for ms in labels.values_list("latency_ms", flat=True))
    return {
        "done": labels.count(),
        "failed": failures.filter(state=LabelFailure.State.OPEN).count(),
        "prompt_tokens": lp + fp,
        "completion_tokens": lc + fc,
        "latency_ms_total": latency,
        "requests": sum(labels.values_list("request_attempts", flat=True)),
    }


class _RunState:
    """What one execution accumulates between database flushes."""

    def __init__(self, run: LabelingRun, progress, counts: dict) -> None:
        self.run = run
        self.progress = progress
        self.prompt_tokens = counts["prompt_tokens"]
        self.completion_tokens = counts["completion_tokens"]
        self.latency_ms_total = counts["latency_ms_total"]
        self.requests_base = counts["requests"]
        self.last_errors = list(run.last_errors or [])[-LAST_ERRORS:]
        self.last_flush = 0.0
        self.consecutive_unreachable = 0

    def add_usage(self, result: CallResult) -> None:
        self.prompt_tokens += result.usage.prompt_tokens
        self.completion_tokens += result.usage.completion_tokens
        self.latency_ms_total += int(result.latency_s * 1000)

    def note_error(self, example: Example, kind: str, message: str) -> None:
        self.last_errors.append({"at": timezone.now().isoformat(timespec="seconds"), "example": example.pk,
                                 "key": example.key[-80:], "kind": kind, "message": message[:300]})
        self.last_errors = self.last_errors[-LAST_ERRORS:]

    def flush(self, client: TeacherClient | None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_flush < STATS_INTERVAL:
            return
        self.last_flush = now
        errors = list(self.last_errors)
        if client is not None:
            for at, kind, message in list(client.recent_errors):
                errors.append({"at": datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="seconds"),
                               "example": None, "key": "", "kind": kind, "message": f"{message[:280]} (retried)"})
            errors.sort(key=lambda e: e["at"])
        LabelingRun.objects.filter(pk=self.run.pk).update(
            prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
            latency_ms_total=self.latency_ms_total, last_errors=errors[-LAST_ERRORS:],
            in_flight=client.in_flight if client is not None else 0,
            requests=self.requests_base + (client.requests if client is not None else 0),
        )
        self.progress.flush()


def _label(run: LabelingRun, item: _Item, result: CallResult) -> Label:
    teacher = run.teacher
    proposal = result.proposal.to_label_dict()
    hunk_level = run.prompt_version.granularity == PromptVersion.Granularity.HUNKS
    return Label(
        granularity="hunks" if hunk_level else "files", skipped_hunks=proposal.get("skipped_hunks", []),
        example=item.example, run=run, teacher=teacher, prompt_version=run.prompt_version,
        source=Label.Source.BASELINE if teacher.is_baseline else Label.Source.TEACHER,
        model=teacher.model, commits=proposal["commits"], gitignore=proposal["gitignore"],
        usage=result.usage.as_dict(), noise_injected=item.noise.injected, injected_files=list(item.noise.files),
        noise_diff=item.noise_diff, raw_response=result.text, finish_reason=result.finish_reason,
        latency_ms=int(result.latency_s * 1000), request_attempts=result.attempts, repair_turns=result.repairs,
    )


def _store_failure(run: LabelingRun, item: _Item, result: CallResult, failure: LabelFailure | None) -> None:
    """Record a failed try: a new failure row, or one more try on the open one."""
    usage = result.usage.as_dict()
    fields = {"kind": result.error_kind, "message": result.error, "raw_response": result.text,
              "finish_reason": result.finish_reason, "state": LabelFailure.State.OPEN}
    with transaction.atomic():
        if failure is None:
            obj, created = LabelFailure.objects.get_or_create(
                run=run, example=item.example, defaults={**fields, "usage": usage})
            if created:
                return
            failure = obj
        total = {k: int((failure.usage or {}).get(k) or 0) + usage[k] for k in usage}
        LabelFailure.objects.filter(pk=failure.pk).update(usage=total, tries=failure.tries + 1,
                                                          updated_at=timezone.now(), **fields)


def _store_batch(run: LabelingRun, outcomes: list[tuple[_Item, CallResult]], failures: dict[int, LabelFailure],
                 state: _RunState) -> tuple[int, int]:
    """Store the outcomes that arrived together: labels in one batch, failures one by one.

    Returns (labeled, failed). A label another execution stored first is skipped, not counted.
    """
    labels, failed = [], 0
    for item, result in outcomes:
        state.add_usage(result)
        if result.ok:
            labels.append(_label(run, item, result))
            state.consecutive_unreachable = 0
            continue
        state.note_error(item.example, result.error_kind, result.error)
        state.consecutive_unreachable = (state.consecutive_unreachable + 1
                                         if result.error_kind in UNREACHABLE_KINDS else 0)
        _store_failure(run, item, result, failures.get(item.example.pk))
        failed += 1
    if labels:
        with transaction.atomic():
            stored, _ = store_labels_skipping_duplicates(labels)
            retried = [failures[label.example_id].pk for label in stored if label.example_id in failures]
            if retried:
                LabelFailure.objects.filter(pk__in=retried).update(state=LabelFailure.State.RESOLVED)
        labels = stored
    return len(labels), failed


def _pending(run: LabelingRun, ids: list[int]) -> tuple[list[int], dict[int, LabelFailure]]:
    labeled = set(Label.objects.filter(run=run).values_list("example_id", flat=True))
    failures = {f.example_id: f for f in LabelFailure.objects.filter(run=run).exclude(state=LabelFailure.State.RESOLVED)}
    settled = labeled | {eid for eid, f in failures.items() if f.state == LabelFailure.State.OPEN}
    return [i for i in ids if i not in settled], failures


def _load(ids: list[int]) -> list[Example]:
    fields = ("id", "key", "diff", "changed_files", "existing_gitignore")
    by_id = {e.pk: e for e in Example.objects.filter(pk__in=ids).only(*fields)}
    return [by_id[i] for i in ids if i in by_id]


def execute_run(run: LabelingRun, progress) -> None:
    """Label every selected example that has no label and no failure in this run yet."""
    ids = resolve_selection(run)
    progress.set_total(len(ids))
    counts = recount(run)
    progress.set_counts(counts["done"], counts["failed"])
    state = _RunState(run, progress, counts)
    pending, failures = _pending(run, ids)
    if not pending:
        progress.message("nothing left to label")
        state.flush(None, force=True)
        return
    config = client_config(run.teacher, run.concurrency)
    window = config.concurrency * 2  # keep the semaphore fed while results are stored
    progress.message(f"labeling {len(pending)} example(s) with {teacher_title(run.teacher)} "
                     f"at concurrency {config.concurrency}")
    prompt = run.prompt_version
    system = system_text(prompt)
    hunk_level = prompt.granularity == PromptVersion.Granularity.HUNKS
    queue = list(reversed(pending))
    submitted: dict[concurrent.futures.Future, _Item] = {}
    buffer: list[Example] = []
    with _LoopThread() as loop_thread:
        async def make_client() -> TeacherClient:
            return TeacherClient(config)

        client = loop_thread.submit(make_client()).result(30)
        try:
            while queue or buffer or submitted:
                while (queue or buffer) and len(submitted) < window and not progress.cancelled:
                    if not buffer:
                        chunk = [queue.pop() for _ in range(min(200, len(queue)))]
                        buffer = list(reversed(_load(chunk)))
                        if not buffer:
                            continue
                    example = buffer.pop()
                    noise = example_noise(run, example)
                    files, diff = apply_noise(list(example.changed_files), example.diff, noise)
                    item = _Item(example, noise, diff[len(example.diff):])
                    if hunk_level:
                        hunks = hunks_for(example, diff, run.teacher_sees_new_content)
                        ids = [h.id for h in hunks]
                        call = client.complete(hunk_messages_for(system, hunks),
                                               parse=lambda text, ids=ids: parse_hunk_proposal(text, ids))
                    else:
                        call = client.complete(messages_for(system, files, diff, run.max_diff_chars))
                    submitted[loop_thread.submit(call)] = item
                if not submitted:
                    break
                done, _ = concurrent.futures.wait(list(submitted), timeout=STATS_INTERVAL,
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
                outcomes = [(submitted.pop(future), future.result()) for future in done]
                labeled, failed = _store_batch(run, outcomes, failures, state)
                # Failures being retried were left out of the starting count.
                progress.advance(done=labeled, failed=failed)
                if state.consecutive_unreachable >= max(UNREACHABLE_AFTER, config.concurrency):
                    raise RuntimeError(f"{teacher_title(run.teacher)} looks unreachable: the last "
                                       f"{state.consecutive_unreachable} examples failed "
                                       f"({state.last_errors[-1]['message']}); fix it and resume")
                if progress.cancelled:
                    for future in submitted:
                        future.cancel()
                    submitted = {f: i for f, i in submitted.items() if f.done() and not f.cancelled()}
                    queue.clear()
                    buffer.clear()
                state.flush(client)
        finally:
            state.flush(client, force=True)
            loop_thread.submit(client.aclose()).result(10)
    counts = recount(run)
    progress.set_counts(counts["done"], counts["failed"])
    LabelingRun.objects.filter(pk=run.pk).update(in_flight=0)
    progress.message(f"{counts['done']} labeled, {counts['failed']} failed")


def run_summary(run: LabelingRun) -> str:
    """One line for the command line and logs."""
    run.refresh_from_db()
    rate = run.rate_per_second
    return (f"run {run.pk} {run.state}: {run.progress_done} labeled, {run.progress_failed} failed of "
            f"{run.progress_total}; tokens in {run.prompt_tokens:,} out {run.completion_tokens:,}; "
            f"cost {run.cost.quantize(Decimal('0.0001'))}"
            + (f"; {rate:.1f} examples/s" if rate else ""))


def open_failures(run: LabelingRun):
    return LabelFailure.objects.filter(run=run).exclude(state=LabelFailure.State.RESOLVED).select_related("example")
