"""Recorded sessions of the dogfooding proxy: the command to run, and what it stored. Staff only
(requests carry the user's own code)."""
import json

from django.shortcuts import get_object_or_404, render

from gsctune.permissions import staff_required

from .models import RecordedSession

DEFAULT_PORT = 8767


@staff_required("Only staff can see recorded sessions.")
def recorded_list(request):
    sessions = RecordedSession.objects.defer("requests", "responses", "proposal").select_related("example")[:200]
    return render(request, "evaluation/recorded_list.html", {"sessions": sessions, "port": DEFAULT_PORT})


@staff_required("Only staff can see recorded sessions.")
def recorded_detail(request, pk: int):
    session = get_object_or_404(RecordedSession, pk=pk)
    exchanges = [(request, response, _shown(request.get("body")), _shown(response.get("body")))
                 for request, response in zip(session.requests, session.responses)]
    return render(request, "evaluation/recorded_detail.html", {"session": session, "exchanges": exchanges})


def _shown(body) -> str:
    """A stored body as readable text: JSON indented, event streams and other text as they came."""
    return body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False)
