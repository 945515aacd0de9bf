"""Store a capture as a ProtocolVersion: same content, same version; different content, a new one with its diff."""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import ProtocolVersion
from .check import OK
from .layout import content_hash, drift_diff, hunk_ids, reply_layout, user_turn_layout
from .session import SUBJECT, SUMMARY_TEXT, UNKNOWN_ID


class CaptureIncomplete(ValueError):
    """The session never reached the tool's first request with tools."""


def protocol_from_capture(result: dict) -> dict:
    """The ``to_spec_dict()``-shaped protocol of a finished session (see session.CaptureSession.result)."""
    first = result.get("first_request")
    if not first:
        raise CaptureIncomplete(
            "The tool never sent a chat completion with tools: nothing to store. "
            "Was it pointed at this server's /v1 and run in a repository with changes?")
    user = first.get("user") or ""
    ids = hunk_ids(user)
    replies = result.get("replies", {})
    return {
        "system_prompt": first.get("system") or "",
        "tools": first.get("tools") or [],
        "user_turn": user,
        "user_layout": user_turn_layout(user, result.get("summaries")),
        "replies": replies,
        "reply_layouts": {move: reply_layout(text, [*ids, UNKNOWN_ID], SUBJECT, SUMMARY_TEXT) for move, text in sorted(replies.items())},
    }


def store_capture(result: dict, tool_name: str = "git-smart-commit", tool_commit: str = "",
                  source: str = ProtocolVersion.Source.CAPTURED) -> tuple[ProtocolVersion, bool, str]:
    """(version, created, diff against the latest stored version).

    An identical capture returns the version that has its hash; a different one becomes a
    new version that keeps the diff. The diff is "" when nothing differs.
    """
    spec = protocol_from_capture(result)
    digest = content_hash(spec["system_prompt"], spec["tools"], spec["user_layout"], spec["reply_layouts"])
    latest = ProtocolVersion.objects.filter(tool_name=tool_name).order_by("-created_at", "-id").first()
    existing = ProtocolVersion.objects.filter(content_hash=digest).first()
    if existing:
        diff = drift_diff(latest.to_spec_dict(), existing.to_spec_dict(), f"#{latest.pk}", f"#{existing.pk}") if latest else ""
        return existing, False, diff
    diff = drift_diff(latest.to_spec_dict(), spec, f"#{latest.pk}", "this capture") if latest else ""
    try:
        with transaction.atomic():
            version = ProtocolVersion.objects.create(
                source=source, tool_name=tool_name, tool_commit=tool_commit, captured_at=timezone.now(),
                raw_capture=result.get("requests", []), drift_from=latest, drift_diff=diff,
                **{k: spec[k] for k in ("system_prompt", "tools", "user_turn", "user_layout", "replies", "reply_layouts")},
            )
    except IntegrityError:  # the same capture stored concurrently
        return ProtocolVersion.objects.get(content_hash=digest), False, diff
    return version, True, diff


def capture_summary(version: ProtocolVersion) -> str:
    """A few lines on what a version holds, for the command's output."""
    names = [t.get("function", {}).get("name", "?") for t in version.tools]
    layout = version.user_layout
    lines = [
        f"{version} from {version.tool_name} {version.tool_commit or '(commit not given)'}",
        f"  system prompt: {len(version.system_prompt):,} characters",
        f"  tools ({len(names)}): {', '.join(names)}",
        (f"  first user message: {len(version.user_turn):,} characters, {layout.get('n_hunks', 0)} hunks; "
         f"list header {layout.get('hunk_list_header')!r}, diff header {layout.get('diff_header')!r}"),
        f"  hunk line forms: {', '.join(repr(f) for f in layout.get('hunk_line_forms', []))}",
    ]
    if layout.get("appended"):
        lines.append(f"  appended after the last section (not part of the protocol): {layout['appended']!r}")
    for move in sorted(version.replies):
        text = version.replies[move]
        lines.append(f"  reply to {move}: " + (repr(text[:100]) + ("…" if len(text) > 100 else "")
                                               if text else "(none: the tool ended its loop)"))
    check = version.renderer_check()
    lines.append(f"  renderer check: {check.headline}")
    lines += [f"    {f.status}: {f.part}: {f.message}" for f in check.findings if f.status != OK]
    return "\n".join(lines)
