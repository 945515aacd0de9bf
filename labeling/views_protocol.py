"""Protocol versions: what was captured from the user's git-smart-commit, and how to capture again."""
import json

from django.shortcuts import get_object_or_404, render

from .models import ProtocolVersion
from .protocol.scratch import CASES, tool_command
from .protocol.session import MOVES

CAPTURE_PORT = 8766  # the command's default --port
SCRATCH_DIR = "var/capture-scratch"


def _commands() -> dict:
    return {
        "capture": f".venv/bin/python manage.py capture_protocol --scratch {SCRATCH_DIR} --tool-commit SHA",
        "tool": f"cd {SCRATCH_DIR} && {tool_command(f'http://127.0.0.1:{CAPTURE_PORT}/v1')}",
        "cases": CASES.values(),
    }


def protocol_list(request):
    versions = ProtocolVersion.objects.select_related("drift_from")
    return render(request, "labeling/protocol/list.html", {"versions": versions, **_commands()})


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) per line of a unified diff, for colouring without marking text safe."""
    out = []
    for line in diff.splitlines():
        cls = "del" if line.startswith("-") and not line.startswith("---") else (
            "add" if line.startswith("+") and not line.startswith("+++") else "")
        out.append((cls, line))
    return out


def _move_order(move: str) -> tuple[int, str]:
    """Replies in the order the script made its moves; anything else after them."""
    return (MOVES.index(move) if move in MOVES else len(MOVES), move)


def protocol_detail(request, pk: int):
    version = get_object_or_404(ProtocolVersion, pk=pk)
    tools = [{"name": t.get("function", {}).get("name", "?"), "json": json.dumps(t, indent=2, ensure_ascii=False)}
             for t in version.tools]
    replies = [{"move": move, "text": text, "layout": version.reply_layouts.get(move, "")}
               for move, text in sorted(version.replies.items(), key=lambda kv: _move_order(kv[0]))]
    later = ProtocolVersion.objects.filter(drift_from=version).order_by("id").first()
    return render(request, "labeling/protocol/detail.html", {
        "version": version, "tools": tools, "replies": replies, "diff_lines": _diff_lines(version.drift_diff),
        "later": later, "requests": version.raw_capture,
        "raw_json": json.dumps(version.raw_capture, indent=2, ensure_ascii=False)[:200_000],
    })
