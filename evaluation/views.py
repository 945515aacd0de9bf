"""Eval reports and blind side-by-side scoring. Thin: the work is in runs.py and comparisons.py."""
import csv
import json
import time

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models.fields.json import KeyTransform
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render

from gsctune import charts
from gsctune.domain import metrics
from gsctune.domain.diffs import split_diff
from gsctune.permissions import staff_required

from . import comparisons
from . import runs as eval_runs
from .forms import ComparisonSetForm, EvalRunForm
from .models import CRITERIA, ComparisonItem, ComparisonSet, EvalRun, Prediction, Vote

KEY_METRICS = ("parsed", "exact", "pair_f1", "jaccard", "type_acc", "hallucination", "junk_routed", "format_ok",
               "coverage")


def home(request):
    return render(request, "evaluation/home.html", {
        "runs": EvalRun.objects.select_related("protocol_version")[:100],
        "sets": ComparisonSet.objects.all()[:50],
    })


@staff_required("Only staff can launch eval runs.")
def run_new(request):
    """The eval run form; a valid post queues the run and opens its page."""
    form = EvalRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run = _launch(form, request.user)
        if run is not None:
            return redirect(run)
    return render(request, "evaluation/run_new.html", {"form": form})


def _sentence(exc: Exception) -> str:
    text = str(exc).strip().rstrip(".")
    return f"{text[:1].upper()}{text[1:]}."


def _launch(form: EvalRunForm, user) -> EvalRun | None:
    """Resolve the examples and create the run; a refusal becomes an error on the field it is about."""
    d = form.cleaned_data
    try:
        ids, source = eval_runs.resolve_examples(
            export_id=d["export"].pk if d["source"] == "export" else None, sample=d["sample"], seed=d["seed"] or 0,
            language=d["language"])
    except eval_runs.EvalError as exc:
        form.add_error("export" if d["source"] == "export" else ("language" if d["language"] else "sample"),
                       _sentence(exc))
        return None
    try:
        return eval_runs.create_eval_run(
            name=d["name"], example_ids=ids, examples_source=source, user=user,
            export_id=d["export"].pk if d["source"] == "export" else None,
            **{k: d[k] for k in ("backend", "base_url", "model", "api_key_env", "base_model_path",
                                 "adapter_path", "training_run", "prompt_kind", "prompt_version", "concurrency",
                                 "max_tokens", "max_diff_chars", "target", "protocol_version",
                                 "protocol_backend")})
    except eval_runs.EvalError as exc:
        form.add_error(None, _sentence(exc))
        return None


def run_detail(request, pk: int):
    run = get_object_or_404(EvalRun, pk=pk)
    table = eval_runs.metric_table(run.summary)
    show = request.GET.get("show", "")
    preds = run.predictions.select_related("example").defer("raw", "example__diff")
    if show == "failed":
        preds = preds.exclude(error="")
    elif show == "unparsed":
        preds = preds.filter(error="", proposal__isnull=True)
    elif show == "inexact":
        # "exact" is also a lookup name, so the JSON key is reached through an explicit transform.
        preds = preds.annotate(exact_score=KeyTransform("exact", "scores")).filter(error="", exact_score__lt=1)
    page = Paginator(preds, 50).get_page(request.GET.get("page"))
    return render(request, "evaluation/run_detail.html", {
        "run": run,
        "table": table,
        "chart": charts.interval_chart([r for r in table if r["name"] not in eval_runs.OFF_CHART]),
        "by_language": _breakdown(run.summary.get("by_language") or {}),
        "by_size": _breakdown(run.summary.get("by_size") or {}),
        "key_labels": [metrics.METRICS[m][0] for m in KEY_METRICS],
        "circular": eval_runs.circularity(run),
        "page": page,
        "show": show,
    })


def _breakdown(groups: dict) -> list[dict]:
    return [{"group": name, "n": max((c["n"] for c in agg.values()), default=0),
             "cells": [agg.get(m) or {"mean": None, "n": 0} for m in KEY_METRICS]}
            for name, agg in groups.items()]


def prediction_detail(request, run_pk: int, pk: int):
    pred = get_object_or_404(Prediction.objects.select_related("run", "example", "reference"), pk=pk, run_id=run_pk)
    scores = [{"label": label, "value": pred.scores.get(name), "higher": higher}
              for name, (label, higher) in eval_runs.metric_names(pred.run.target).items()]
    return render(request, "evaluation/prediction_detail.html", {
        "pred": pred, "run": pred.run, "scores": scores, "files": split_diff(pred.example.diff),
        "transcript": eval_runs.transcript_rows(pred.transcript),
        "requests": eval_runs.latency_stats(pred.request_latencies or [])})


def run_compare(request):
    ids = [int(x) for x in request.GET.getlist("runs") if x.isdigit()]
    runs = list(EvalRun.objects.filter(pk__in=ids))
    runs.sort(key=lambda r: ids.index(r.pk))
    rows = eval_runs.compare_runs(runs) if len(runs) >= 1 else []
    return render(request, "evaluation/compare.html", {
        "runs": runs, "rows": rows, "all_runs": EvalRun.objects.filter(state="succeeded")[:100],
        "chart": charts.grouped_chart(rows, [r.name for r in runs]) if runs else None,
    })


# --------------------------------------------------------------------------- blind comparisons

@staff_required("Only staff can build blind comparison sets.")
def set_new(request):
    """The comparison set form; a valid post builds the set and opens it."""
    form = ComparisonSetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            cset = comparisons.build_comparison_set(form.cleaned_data["name"], form.systems(),
                                                 n_items=form.cleaned_data["n_items"],
                                                 seed=form.cleaned_data["seed"], user=request.user)
        except eval_runs.EvalError as exc:
            form.add_error(None, _sentence(exc))
        else:
            return redirect(cset)
    return render(request, "evaluation/set_new.html", {"form": form})


def set_detail(request, pk: int):
    cset = get_object_or_404(ComparisonSet, pk=pk)
    mine = Vote.objects.filter(item__comparison_set=cset, reviewer=request.user).count()
    return render(request, "evaluation/set_detail.html", {
        "cset": cset, "n_items": cset.items.count(), "mine": mine,
        "n_votes": Vote.objects.filter(item__comparison_set=cset).count(),
        "n_systems": cset.systems.count()})


def set_next(request, pk: int):
    cset = get_object_or_404(ComparisonSet, pk=pk)
    item = comparisons.next_item(request.user, cset)
    if item is None:
        messages.info(request, "Nothing left for you to score in this set (or the rest is being scored by others).")
        return redirect("cmp-results", pk=cset.pk)
    return redirect("cmp-item", pk=cset.pk, item_pk=item.pk)


def _outputs(item, user, posted) -> list[dict]:
    """The outputs in this reviewer's order, with their score fields (kept on a failed submit)."""
    order = comparisons.display_order(item, user.pk, item.comparison_set.seed)
    outputs = {o.system_id: o for o in item.outputs.all()}
    shown = []
    for i, sid in enumerate(order):
        letter = comparisons.LETTERS[i]
        fields = [{"key": c, "label": label, "name": f"s-{letter}-{c}", "value": posted.get(f"s-{letter}-{c}", "")}
                  for c, label in CRITERIA]
        shown.append({"letter": letter, "output": outputs[sid], "fields": fields,
                      "commits": comparisons.shown_commits(outputs[sid].proposal)})
    return shown


def item_score(request, pk: int, item_pk: int):
    item = get_object_or_404(ComparisonItem.objects.select_related("comparison_set", "example"), pk=item_pk,
                             comparison_set_id=pk)
    if Vote.objects.filter(item=item, reviewer=request.user).exists():
        return redirect("cmp-reveal", pk=pk, item_pk=item.pk)
    error = ""
    if request.method == "POST":
        letters = comparisons.LETTERS[:item.outputs.count()]
        scores = {}
        for letter in letters:
            scores[letter] = {}
            for criterion, _ in CRITERIA:
                raw = request.POST.get(f"s-{letter}-{criterion}", "")
                scores[letter][criterion] = int(raw) if raw.isdigit() else None
        try:
            started = float(request.POST.get("started", "0") or 0)
        except ValueError:
            started = 0.0
        try:
            comparisons.record_vote(request.user, item, scores, request.POST.get("pref", ""),
                                 seconds=time.time() - started if started else 0.0)
            return redirect("cmp-reveal", pk=pk, item_pk=item.pk)
        except eval_runs.EvalError as exc:
            error = str(exc)
    record = comparisons.item_input(item)
    holder = comparisons.lease_holder(item, request.user)
    if holder is None and request.method == "GET":
        comparisons.take_lease(item, request.user)
    outputs = _outputs(item, request.user, request.POST if request.method == "POST" else {})
    return render(request, "evaluation/item_score.html", {
        "item": item, "cset": item.comparison_set, "outputs": outputs, "letters": [o["letter"] for o in outputs],
        "pref": request.POST.get("pref", ""), "record": record, "files": split_diff(record["diff"]), "error": error,
        "holder": holder, "now": time.time(), "scale": range(1, 6),
        "total": item.comparison_set.items.count(),
    }, status=400 if error else 200)


def item_reveal(request, pk: int, item_pk: int):
    item = get_object_or_404(ComparisonItem.objects.select_related("comparison_set"), pk=item_pk,
                             comparison_set_id=pk)
    vote = Vote.objects.filter(item=item, reviewer=request.user).prefetch_related("scores").first()
    if vote is None:
        return redirect("cmp-item", pk=pk, item_pk=item.pk)  # systems stay hidden until the vote
    outputs = {o.system_id: o for o in item.outputs.select_related("system")}
    values = {(s.system_id, s.criterion): s.value for s in vote.scores.all()}
    transcripts = comparisons.transcript_links(item)
    rows = [{"letter": comparisons.LETTERS[i], "system": outputs[sid].system,
             "scores": [values.get((sid, c)) for c, _ in CRITERIA], "preferred": vote.preferred_id == sid,
             "transcript": transcripts.get(sid)}
            for i, sid in enumerate(vote.order)]
    return render(request, "evaluation/item_reveal.html", {
        "item": item, "cset": item.comparison_set, "vote": vote, "rows": rows, "criteria": CRITERIA})


def set_results(request, pk: int):
    cset = get_object_or_404(ComparisonSet, pk=pk)
    return render(request, "evaluation/results.html", {"cset": cset, "r": comparisons.comparison_results(cset)})


def set_export(request, pk: int, fmt: str):
    cset = get_object_or_404(ComparisonSet, pk=pk)
    if fmt not in ("json", "csv"):
        raise Http404("export as json or csv")
    rows = comparisons.export_rows(cset)
    if fmt == "json":
        response = JsonResponse({"set": cset.name, "votes": rows}, json_dumps_params={"indent": 1})
    else:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        writer = csv.DictWriter(response, fieldnames=comparisons.EXPORT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    response["Content-Disposition"] = f'attachment; filename="comparison-{cset.pk}.{fmt}"'
    return response


def run_summary_json(request, pk: int):
    run = get_object_or_404(EvalRun, pk=pk)
    return HttpResponse(json.dumps({"run": run.pk, "name": run.name, **run.summary}, indent=1),
                        content_type="application/json")
