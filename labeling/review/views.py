"""Review queue, review page, verdicts and the quality gate page. Thin: rules live in review/services.py."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ..models import Label, Review
from .presenters import (
    commit_rows,
    editor_types,
    file_owners,
    hunk_editor,
    label_commits,
    review_files,
    titled_findings,
)
from .services import (
    LEASES,
    QUEUES,
    VERDICTS,
    LabelNotFound,
    LeaseConflict,
    QueueFilter,
    ReviewError,
    facets,
    gate_rule,
    gate_stats,
    next_item,
    queue_items,
    record_verdict,
    similarity_to_original,
    undo_last,
)

# Reject reasons in key order: key 1 is the first reason.
REASONS = list(Review.Reason.choices)


def _query(f: QueueFilter) -> str:
    return urlencode(f.as_query())


@login_required
def queue(request):
    f = QueueFilter.from_query(request.GET)
    items = queue_items(f, request.user).select_related("example", "leased_by", "label__prompt_version__protocol_version")
    page = Paginator(items, 50).get_page(request.GET.get("page"))
    return render(request, "labeling/review/queue.html", {
        "f": f,
        "queues": QUEUES,
        "verdicts": VERDICTS,
        "facets": facets(),
        "page": page,
        "query": _query(f),
        "now": timezone.now(),
    })


@login_required
def next_view(request):
    """Lease the next item. ``fragment=1`` (the page's prefetch) answers with its HTML, 204 when empty."""
    f = QueueFilter.from_query(request.GET)
    exclude = [int(x) for x in request.GET.getlist("exclude") if x.isdigit()]
    item = next_item(request.user, f, exclude)
    if request.GET.get("fragment"):
        if item is None:
            return HttpResponse(status=204)
        label = Label.objects.select_related("example").get(pk=item.pk)
        return render(request, "labeling/review/_item.html", review_context(request, label, f))
    if item is None:
        return render(request, "labeling/review/empty.html", {"f": f, "query": _query(f), "queues": QUEUES})
    return redirect(_item_url(item.pk, f))


def _item_url(label_id: int, f: QueueFilter) -> str:
    query = _query(f)
    return reverse("review-item", args=[label_id]) + (f"?{query}" if query else "")


def review_context(request, label: Label, f: QueueFilter) -> dict:
    example = label.example
    commits = label_commits(label)
    owner = file_owners(commits)
    findings = titled_findings(label)
    rows = commit_rows(commits, findings)
    reviews = label.reviews.select_related("reviewer").order_by("-id")[:10]
    hunks, hunk_state = hunk_editor(label, commits, rows)
    return {
        "hunks": hunks,
        "hunk_state": hunk_state,
        "label": label,
        "example": example,
        "files": review_files(label, owner),
        "commits": rows,
        "general_findings": [x for x in findings if x.get("commit") is None],
        "uncommitted": [p for p in label.changed_files if p not in owner],
        "n_findings": len(findings),
        "reasons": [(n, value, text) for n, (value, text) in enumerate(REASONS, 1)],
        "types": editor_types(rows),
        "similarity": similarity_to_original(label),
        "reviews": reviews,
        "leased_by": LEASES.holder(label.pk, request.user),
        "gitignore_text": "\n".join(str(p) for p in label.gitignore or []),
        "f": f,
        "query": _query(f),
        "item_url": _item_url(label.pk, f),
        "next_url": reverse("review-next") + "?" + urlencode({**f.as_query(), "fragment": 1, "exclude": label.pk}),
        "reviewable": label.source != Label.Source.HUMAN,
    }


@login_required
def item(request, label_id: int):
    label = get_object_or_404(Label.objects.select_related("example"), pk=label_id)
    f = QueueFilter.from_query(request.GET)
    return render(request, "labeling/review/item.html", review_context(request, label, f))


@login_required
@require_POST
def verdict(request, label_id: int):
    """Store a verdict sent by the review page as JSON; errors come back as {"error": ...}.

    400 for a bad verdict, 404 for a missing label, 409 when another reviewer holds the label.
    A repeat of a stored verdict (same ``token``) answers as the first did, with ``repeat``.
    """
    try:
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ReviewError("expected a JSON object")
        review = record_verdict(
            request.user,
            label_id,
            str(data.get("verdict") or ""),
            reasons=[str(r) for r in data.get("reasons") or []],
            note=str(data.get("note") or ""),
            seconds=float(data.get("seconds") or 0),
            correction=data.get("correction"),
            token=str(data.get("token") or ""),
        )
    except LabelNotFound as exc:
        return JsonResponse({"error": str(exc)}, status=404)
    except LeaseConflict as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    except (ReviewError, ValueError, TypeError) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"ok": True, "review": review.pk, "verdict": review.verdict,
                         "correction": review.correction_id, "repeat": review.repeated})


@login_required
@require_POST
def undo(request):
    review = undo_last(request.user)
    if review is None:
        return JsonResponse({"error": "nothing to undo"}, status=400)
    f = QueueFilter.from_query(request.GET)
    return JsonResponse({"ok": True, "label": review.label_id, "verdict": review.verdict,
                         "leased": review.leased, "url": _item_url(review.label_id, f)})


@login_required
def gate(request):
    teacher = request.GET.get("teacher", "")
    prompt = request.GET.get("prompt", "")
    min_reviewed, min_lower = gate_rule()
    return render(request, "labeling/review/gate.html", {
        "columns": gate_stats(teacher, prompt),
        "teacher": teacher,
        "prompt": prompt,
        "facets": facets(),
        "min_reviewed": min_reviewed,
        "min_lower": min_lower,
    })
