"""Protocol versions: what was captured from the user's git-smart-commit, and how to capture again."""
import json

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from gsctune.permissions import staff_required

from ..models import CaptureJob, ProtocolVersion
from ..runs.services import hunk_prompt_from_protocol
from .check import BY_DESIGN, CAPTURED_WORDING, GSCTUNE_WORDING, MISMATCH, OK
from .forms import CaptureJobForm
from .scratch import CASES, tool_command
from .session import MOVES

CAPTURE_PORT = 8766  # the command's default --port
SCRATCH_DIR = "var/capture-scratch"


def _list_context(form=None) -> dict:
    return {
        "versions": ProtocolVersion.objects.select_related("drift_from"),
        "captures": CaptureJob.objects.select_related("protocol_version", "created_by")[:10],
        "form": form or CaptureJobForm(),
        "capture": f".venv/bin/python manage.py capture_protocol --scratch {SCRATCH_DIR} --tool-commit SHA",
        "tool": f"cd {SCRATCH_DIR} && {tool_command(f'http://127.0.0.1:{CAPTURE_PORT}/v1')}",
        "cases": CASES.values(),
    }


def protocol_list(request):
    return render(request, "labeling/protocol/list.html", _list_context())


@require_POST
@staff_required("Only staff can start a capture.")
def protocol_capture_new(request):
    """Queue a CaptureJob: a worker serves the endpoint on the chosen port until the tool has run."""
    form = CaptureJobForm(request.POST)
    if not form.is_valid():
        return render(request, "labeling/protocol/list.html", _list_context(form), status=400)
    job = form.save(commit=False)
    job.created_by = request.user
    job.save()
    job.enqueue()
    messages.success(request, f"{job} queued: run the command below once it is waiting.")
    return redirect(job)


def protocol_capture_detail(request, pk: int):
    job = get_object_or_404(CaptureJob.objects.select_related("protocol_version"), pk=pk)
    return render(request, "labeling/protocol/capture.html", {"job": job})


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) per line of a unified diff, for colouring without marking text safe."""
    out = []
    for line in diff.splitlines():
        cls = "del" if line.startswith("-") and not line.startswith("---") else (
            "add" if line.startswith("+") and not line.startswith("+++") else "")
        out.append((cls, line))
    return out


# A renderer-check status -> the badge it is shown with.
CHECK_BADGES = {OK: "succeeded", MISMATCH: "failed", BY_DESIGN: "cancelled", GSCTUNE_WORDING: "cancelled",
                CAPTURED_WORDING: "running"}


def _check_rows(check) -> tuple[list[dict], list[dict]]:
    """(findings to read: mismatches first, then what was not checked or differs by design;
    the parts that match), each in the check's order."""
    rows = [{"finding": f, "badge": CHECK_BADGES.get(f.status, "queued")} for f in check.findings]
    notable = sorted((r for r in rows if r["finding"].status != OK), key=lambda r: r["finding"].status != MISMATCH)
    return notable, [r for r in rows if r["finding"].status == OK]


def _move_order(move: str) -> tuple[int, str]:
    """Replies in the order the script made its moves; anything else after them."""
    return (MOVES.index(move) if move in MOVES else len(MOVES), move)


@require_POST
@staff_required("Only staff can create prompt versions.")
def protocol_hunk_prompt(request, pk: int):
    """One click: a hunk-level prompt version from this protocol's system prompt."""
    version = get_object_or_404(ProtocolVersion, pk=pk)
    prompt, created = hunk_prompt_from_protocol(version, user=request.user)
    if created:
        messages.success(request, "New hunk-level prompt version saved.")
    elif prompt.protocol_version_id == version.pk:
        messages.success(request, f"This protocol's hunk-level prompt is already version #{prompt.pk}.")
    else:  # the same texts: the prompt keeps the link it has
        messages.success(request, f"These texts are already prompt version #{prompt.pk}, " + (
            f"made from protocol #{prompt.protocol_version_id} (the same system prompt)." if prompt.protocol_version_id
            else "made by hand and already used, so it stays unlinked."))
    return redirect(prompt)


def protocol_detail(request, pk: int):
    version = get_object_or_404(ProtocolVersion, pk=pk)
    tools = [{"name": t.get("function", {}).get("name", "?"), "json": json.dumps(t, indent=2, ensure_ascii=False)}
             for t in version.tools]
    replies = [{"move": move, "text": text, "layout": version.reply_layouts.get(move, "")}
               for move, text in sorted(version.replies.items(), key=lambda kv: _move_order(kv[0]))]
    later = ProtocolVersion.objects.filter(drift_from=version).order_by("id").first()
    check = version.renderer_check()
    check_rows, ok_rows = _check_rows(check)
    return render(request, "labeling/protocol/detail.html", {
        "version": version, "tools": tools, "replies": replies, "diff_lines": _diff_lines(version.drift_diff),
        "check": check, "check_rows": check_rows, "ok_rows": ok_rows,
        "later": later, "requests": version.raw_capture,
        "raw_json": json.dumps(version.raw_capture, indent=2, ensure_ascii=False)[:200_000],
    })
