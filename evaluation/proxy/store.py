"""Recorded sessions in the database, and finished ones as examples with a production label.

The row is written as soon as a session is seen and rewritten as it grows, so a
session is kept even when the proxy stops halfway. Conversion happens once the
student has called finalize_commits and the tool has gone quiet (or at the end).
"""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from django.db import transaction

from labeling.examples.harvest import languages_of
from labeling.labels import store_label
from labeling.models import Example, Label

from ..models import RecordedSession
from .convert import NotConvertible, Unfinished, proposal
from .forward import Exchange
from .sessions import Recorder, Session

EXAMPLE_KEY_PREFIX = "recorded:"
UNNAMED_REPO = "recorded-session"


def _body(raw: bytes):
    """JSON when it is JSON, else the text (server-sent events, NDJSON, anything else)."""
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text) if text else ""
    except ValueError:
        return text


def _request_row(e: Exchange) -> dict:
    return {"at": e.at, "method": e.method, "path": e.path, "body": _body(e.request_body)}


def _response_row(e: Exchange) -> dict:
    row = {"status": e.status, "content_type": e.content_type, "ms": round(e.ms, 3), "streamed": e.streamed,
           "body": _body(e.response_body)}
    return row | ({"note": e.note} if e.note else {})


def save_session(session: Session, upstream: str, repo_name: str = "") -> RecordedSession:
    """Create or rewrite the session's row with every exchange so far."""
    values = {
        "key": session.key, "upstream": upstream, "repo_name": repo_name, "model": session.model[:200],
        "api": session.api if session.key else "", "requests": [_request_row(e) for e in session.exchanges],
        "responses": [_response_row(e) for e in session.exchanges],
    }
    if session.record_id is None:
        started = datetime.fromtimestamp(session.exchanges[0].at if session.exchanges else 0, UTC)
        row = RecordedSession.objects.create(started_at=started, reason=session.reason, **values)
        session.record_id = row.pk
    else:
        RecordedSession.objects.filter(pk=session.record_id).update(**values)
        row = RecordedSession.objects.get(pk=session.record_id)
    session.changed = False
    return row


def _usage(session: Session) -> dict:
    """Tokens the upstream reported over the session's loop turns (OpenAI or Ollama names)."""
    prompt = completion = 0
    for index in session.loop:
        body = _body(session.exchanges[index].response_body)
        if isinstance(body, dict):
            usage = body.get("usage") or {}
            prompt += int(usage.get("prompt_tokens") or body.get("prompt_eval_count") or 0)
            completion += int(usage.get("completion_tokens") or body.get("eval_count") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def convert_session(session: Session, row: RecordedSession) -> RecordedSession:
    """The example and production label of a finished session, or the reason it is not one."""
    if not session.key:
        row.state, row.reason = RecordedSession.State.UNPARSEABLE, session.reason
        row.save(update_fields=["state", "reason", "updated_at"])
        return row
    try:
        result = proposal(session)
    except Unfinished as exc:
        row.state, row.reason = RecordedSession.State.UNFINISHED, str(exc)
    except NotConvertible as exc:
        row.state, row.reason = RecordedSession.State.UNPARSEABLE, str(exc)
    except Exception as exc:  # noqa: BLE001 (a session that trips the conversion is kept, never lost)
        row.state, row.reason = RecordedSession.State.UNPARSEABLE, f"the conversion failed: {exc!r}"
    else:
        with transaction.atomic():
            example = _example(session.key, result, row.repo_name)
            label = store_label(Label(
                example=example, source=Label.Source.PRODUCTION, model=session.model[:200],
                commits=result["commits"], gitignore=result["gitignore"],
                # Label has no skipped-hunks column: the ids ride in usage, next to the tokens.
                usage=_usage(session) | {"skipped_hunks": result["skipped_hunks"]},
            ))
            row.state, row.reason, row.example, row.label = RecordedSession.State.CONVERTED, "", example, label
            row.proposal = {k: result[k] for k in ("commits", "gitignore", "skipped_hunks", "hunk_ids", "turns")}
            row.save()
        return row
    row.save(update_fields=["state", "reason", "updated_at"])
    return row


def _example(key: str, result: dict, repo_name: str) -> Example:
    """The session's example: the same diff recorded twice is one example (its key is the session key)."""
    files = result["files"]
    languages = languages_of(files)
    example, _ = Example.objects.get_or_create(key=f"{EXAMPLE_KEY_PREFIX}{key}", defaults={
        "repo_url": repo_name or UNNAMED_REPO, "branch": "", "base_commit": "", "head_commit": "",
        "n_commits": 0, "diff": result["diff"], "changed_files": files, "original_commits": [],
        "existing_gitignore": [], "languages": languages, "diff_chars": len(result["diff"]),
        "n_files": len(files), "languages_text": f" {' '.join(languages)} " if languages else "",
        "warnings": ["recorded through the proxy: no original commits"],
    })
    return example


def flush(recorder: Recorder, upstream: str, repo_name: str = "", grace_s: float = 5.0,
          final: bool = False, now: float | None = None) -> list[RecordedSession]:
    """Write what the recorder has seen; convert sessions that have ended. Returns rows written."""
    now = time.time() if now is None else now
    written = []
    for session in recorder.collect(final=final):
        if session.closed and not session.changed:
            continue
        row = save_session(session, upstream, repo_name) if session.changed else \
            RecordedSession.objects.get(pk=session.record_id)
        ended = session.finalize_sent and now - session.last_at >= grace_s
        if not session.closed and (final or ended):
            row = convert_session(session, row)
            session.closed = True
        written.append(row)
    return written
