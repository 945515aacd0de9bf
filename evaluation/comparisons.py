"""Blind side-by-side comparisons: sets, leases, votes and their results."""
from __future__ import annotations

from collections import Counter, defaultdict

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from gsctune.domain import stats
from gsctune.domain.seeding import seeded_int, seeded_random
from gsctune.leases import Leases
from labeling.models import Example, Label
from labeling.review.presenters import COLOURS

from .models import (
    CRITERIA,
    ComparisonItem,
    ComparisonOutput,
    ComparisonSet,
    ComparisonSystem,
    EvalRun,
    Prediction,
    Score,
    Vote,
)
from .runs import BOOT, EvalError, example_record, reference_labels

LEASES = Leases(ComparisonItem, "BLIND_LEASE_SECONDS")
LETTERS = "ABCDEFGH"


def _system_outputs(spec: dict) -> tuple[str, dict[int, tuple[dict | None, str]]]:
    """(default name, {example_id: (proposal, raw)}) for one system spec."""
    kind = spec.get("kind")
    if kind == ComparisonSystem.Kind.EVAL_RUN:
        run = EvalRun.objects.filter(pk=spec.get("eval_run")).first()
        if run is None:
            raise EvalError(f"eval run {spec.get('eval_run')} does not exist")
        outs = {p.example_id: (p.proposal, p.raw) for p in run.predictions.filter(error="")}
        return run.name, outs
    if kind == ComparisonSystem.Kind.TEACHER:
        labels = Label.objects.exclude(source=Label.Source.HUMAN)
        if spec.get("model"):
            labels = labels.filter(model=spec["model"])
        outs = {lab.example_id: ({"commits": lab.commits, "gitignore": lab.gitignore}, "")
                for lab in labels.order_by("id")}
        return f"teacher {spec.get('model') or 'labels'}", outs
    if kind == ComparisonSystem.Kind.HUMAN:
        outs = {}
        for pk, commits in Example.objects.values_list("id", "original_commits"):
            if commits:
                outs[pk] = ({"commits": [{"subject": c.get("subject", ""), "files": c.get("files", []), "body": "",
                                          "issues": []} for c in commits], "gitignore": []}, "")
        return "original human commits", outs
    raise EvalError(f"unknown system kind {kind!r} (eval_run, teacher or human)")


def build_comparison_set(name: str, systems: list[dict], *, n_items: int, seed: int = 0,
                         user=None) -> ComparisonSet:
    """Freeze the outputs of 2+ systems on a seeded sample of the examples they all answered."""
    if len(systems) < 2:
        raise EvalError("a comparison needs at least two systems")
    if len(systems) > len(LETTERS):
        raise EvalError(f"at most {len(LETTERS)} systems")
    resolved = []
    for i, spec in enumerate(systems, 1):
        try:
            default, outs = _system_outputs(spec)
        except EvalError as exc:
            raise EvalError(f"system {i}: {exc}") from None
        if not outs:
            raise EvalError(f"system {i} ({default}) has no outputs")
        resolved.append((spec, spec.get("name") or default, outs))
    common = set.intersection(*(set(outs) for _, _, outs in resolved))
    if not common:
        raise EvalError("the systems have no example in common")
    keys = dict(Example.objects.filter(pk__in=common).values_list("id", "key"))
    chosen = sorted(common, key=lambda pk: seeded_int(f"{seed}:{keys[pk]}"))[:n_items]
    with transaction.atomic():
        cset = ComparisonSet.objects.create(name=name, seed=seed, created_by=user)
        sys_rows = [ComparisonSystem.objects.create(
            comparison_set=cset, name=label, kind=spec["kind"], eval_run_id=spec.get("eval_run"),
            teacher_model=spec.get("model", "")) for spec, label, _ in resolved]
        for position, pk in enumerate(chosen, 1):
            item = ComparisonItem.objects.create(comparison_set=cset, example_id=pk, position=position)
            ComparisonOutput.objects.bulk_create([
                ComparisonOutput(item=item, system=row, proposal=outs[pk][0], raw=outs[pk][1] or "")
                for row, (_, _, outs) in zip(sys_rows, resolved)])
    return cset


def shown_commits(proposal: dict | None) -> list[dict]:
    """A protocol proposal's commits with their hunk ids and the review page's tint per commit."""
    return [{"number": i + 1, "tint": f"tint-{i % COLOURS}", "subject": c.get("subject", ""),
             "body": c.get("body", ""), "hunks": list(c.get("hunks") or ())}
            for i, c in enumerate((proposal or {}).get("commits") or ()) if "hunks" in c]


def transcript_links(item: ComparisonItem) -> dict[int, str]:
    """{system id: prediction page} for systems from protocol eval runs, linked only once the vote is in."""
    links = {}
    for system in item.comparison_set.systems.filter(eval_run__target=EvalRun.Target.GIT_SMART_COMMIT):
        pred = Prediction.objects.filter(run_id=system.eval_run_id, example_id=item.example_id).first()
        if pred is not None:
            links[system.pk] = pred.get_absolute_url()
    return links


def item_input(item: ComparisonItem) -> dict:
    """The example as the systems saw it (with the reference label's injected junk), for the scoring page."""
    return example_record(item.example, reference_labels([item.example_id]).get(item.example_id))


def display_order(item: ComparisonItem, reviewer_id: int, seed: int) -> list[int]:
    """System ids in the order shown (A, B, ...): random per item and reviewer, stable on reload."""
    ids = sorted(item.outputs.values_list("system_id", flat=True))
    rng = seeded_random(f"{seed}:{item.pk}:{reviewer_id}")
    rng.shuffle(ids)
    return ids


def next_item(user, cset: ComparisonSet) -> ComparisonItem | None:
    """Lease the next item this reviewer has not voted on and nobody else holds (fewest votes first)."""
    now = timezone.now()
    mine = ComparisonItem.objects.filter(comparison_set=cset, leased_by=user, lease_expires__gte=now) \
        .exclude(votes__reviewer=user).first()
    if mine:
        return mine
    candidates = (ComparisonItem.objects.filter(comparison_set=cset).filter(LEASES.free(user, now))
                  .exclude(votes__reviewer=user).order_by("n_votes", "position").values_list("pk", flat=True)[:20])
    for pk in candidates:
        item = ComparisonItem(pk=pk, comparison_set=cset)
        if take_lease(item, user):
            return ComparisonItem.objects.get(pk=pk)
    return None


def take_lease(item: ComparisonItem, user) -> bool:
    """Lease the item to the user unless another reviewer holds it; a reviewer holds one item per set."""
    taken = LEASES.take(item.pk, user)
    if taken:
        LEASES.release(ComparisonItem.objects.filter(comparison_set_id=item.comparison_set_id).exclude(pk=item.pk),
                       user)
    return bool(taken)


def lease_holder(item: ComparisonItem, user):
    """Another reviewer holding an unexpired lease on the item, else None."""
    return LEASES.holder(item.pk, user)


def record_vote(user, item: ComparisonItem, scores: dict[str, dict[str, int]], preference: str,
                seconds: float = 0.0) -> Vote:
    """Store a vote given by letters as shown: scores[letter][criterion] in 1..5, preference a letter, tie or bad."""
    order = display_order(item, user.pk, item.comparison_set.seed)
    letters = LETTERS[:len(order)]
    by_letter = dict(zip(letters, order))
    problems = []
    for letter in letters:
        for criterion, label in CRITERIA:
            value = (scores.get(letter) or {}).get(criterion)
            if not isinstance(value, int) or not 1 <= value <= 5:
                problems.append(f"{label} of {letter}")
    if problems:
        raise EvalError("score 1-5 missing for: " + ", ".join(problems))
    if preference in by_letter:
        kind, preferred = Vote.Preference.SYSTEM, by_letter[preference]
    elif preference in ("tie", "bad"):
        kind, preferred = (Vote.Preference.TIE if preference == "tie" else Vote.Preference.BOTH_BAD), None
    else:
        raise EvalError("choose a preference: " + ", ".join(letters) + ", tie or all bad")
    holder = lease_holder(item, user)
    if holder is not None:
        raise EvalError(f"{holder.get_username()} is scoring this item right now")
    try:
        with transaction.atomic():
            vote = Vote.objects.create(item=item, reviewer=user, order=order, preference=kind, preferred_id=preferred,
                                       seconds_spent=min(max(float(seconds or 0), 0.0), 3600.0))
            Score.objects.bulk_create([Score(vote=vote, system_id=by_letter[letter], criterion=criterion,
                                             value=scores[letter][criterion])
                                       for letter in letters for criterion, _ in CRITERIA])
            ComparisonItem.objects.filter(pk=item.pk).update(n_votes=F("n_votes") + 1, leased_by=None,
                                                             lease_expires=None)
    except IntegrityError:
        raise EvalError("you have already scored this item") from None
    return vote


def vote_outcomes(votes) -> list[stats.Outcome]:
    """Pairwise outcomes from preferences: the preferred output beats each other one; tie/all bad: ties."""
    outcomes = []
    for vote in votes:
        ids = sorted(vote.order)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                if vote.preference == Vote.Preference.SYSTEM:
                    if vote.preferred_id not in (a, b):
                        continue  # preferring C says nothing about A against B
                    outcomes.append((str(a), str(b), 1.0 if vote.preferred_id == a else 0.0))
                else:
                    outcomes.append((str(a), str(b), 0.5))
    return outcomes


def comparison_results(cset: ComparisonSet) -> dict:
    """Mean scores with intervals, win rates, Bradley-Terry ranking and votes per reviewer."""
    systems = list(cset.systems.all())
    names = {str(s.pk): s.name for s in systems}
    votes = list(Vote.objects.filter(item__comparison_set=cset).select_related("reviewer"))
    values: dict[tuple[int, str], list[int]] = defaultdict(list)
    per_vote: dict[tuple[int, int], list[int]] = defaultdict(list)  # a vote from before a criterion lacks it
    for vid, sid, criterion, value in Score.objects.filter(vote__item__comparison_set=cset).values_list(
            "vote_id", "system_id", "criterion", "value"):
        values[(sid, criterion)].append(value)
        per_vote[(vid, sid)].append(value)
    score_rows = []
    for s in systems:
        cells = [stats.mean_ci(values[(s.pk, c)], n_boot=BOOT, seed=s.pk) for c, _ in CRITERIA]
        overall = [sum(vals) / len(vals) for key, vals in per_vote.items() if key[1] == s.pk]
        score_rows.append({"system": s, "cells": cells, "overall": stats.mean_ci(overall, n_boot=BOOT, seed=s.pk)})
    outcomes = vote_outcomes(votes)
    rates = [dict(r, a_name=names[r["a"]], b_name=names[r["b"]]) for r in stats.win_rates(outcomes)]
    ranking = [dict(r, name=names[r["system"]])
               for r in stats.bradley_terry(outcomes, [str(s.pk) for s in systems], n_boot=BOOT, seed=cset.seed)]
    firsts = Counter(v.preferred_id for v in votes if v.preference == Vote.Preference.SYSTEM)
    per_reviewer = Counter(v.reviewer.get_username() for v in votes)
    return {
        "systems": systems,
        "criteria": CRITERIA,
        "scores": score_rows,
        "win_rates": rates,
        "ranking": ranking,
        "n_votes": len(votes),
        "preferred": [{"system": s, "n": firsts.get(s.pk, 0)} for s in systems],
        "ties": sum(v.preference == Vote.Preference.TIE for v in votes),
        "all_bad": sum(v.preference == Vote.Preference.BOTH_BAD for v in votes),
        "per_reviewer": sorted(per_reviewer.items()),
        "n_items": cset.items.count(),
    }


EXPORT_FIELDS = ["item", "example", "reviewer", "system", "shown_as", *[c for c, _ in CRITERIA], "preference",
                 "preferred_system", "seconds", "voted_at"]


def export_rows(cset: ComparisonSet) -> list[dict]:
    """One row per vote and system, for the JSON and CSV downloads."""
    names = {s.pk: s.name for s in cset.systems.all()}
    rows = []
    votes = (Vote.objects.filter(item__comparison_set=cset).select_related("reviewer", "item__example")
             .prefetch_related("scores").order_by("item__position", "id"))
    for vote in votes:
        by_system: dict[int, dict] = defaultdict(dict)
        for score in vote.scores.all():
            by_system[score.system_id][score.criterion] = score.value
        for idx, sid in enumerate(vote.order):
            rows.append({
                "item": vote.item.position, "example": vote.item.example.key,
                "reviewer": vote.reviewer.get_username(), "system": names.get(sid, str(sid)),
                "shown_as": LETTERS[idx], **{c: by_system[sid].get(c) for c, _ in CRITERIA},
                "preference": vote.preference, "preferred_system": names.get(vote.preferred_id, ""),
                "seconds": round(vote.seconds_spent, 1), "voted_at": vote.created_at.isoformat(),
            })
    return rows
