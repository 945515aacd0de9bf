"""The one service that writes labels: checks run and review rows upserted in the same step.

Import, labeling runs, corrections and the admin all store labels through
:func:`store_labels` (a batch: one INSERT for the labels, one for their queue rows) or
:func:`refresh_labels` (labels whose content changed). Nothing else computes findings
or writes ``ReviewItem`` rows, so a stored label is always checked and queued, and no
page has to repair that on a GET.
"""
from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, transaction

from gsctune.domain.checks import run_checks
from gsctune.domain.hunk_checks import INFORMATIONAL, hunk_findings
from gsctune.domain.hunk_proposal import example_hunk_view, to_hunk_label
from gsctune.domain.hunks import Hunk
from gsctune.domain.seeding import seeded_unit
from gsctune.rules import commit_rules

from .models import Label, ReviewItem


def label_hunks(label: Label) -> list[Hunk]:
    """The tool's hunk list of the diff the labeler saw (junk included)."""
    example = label.example
    return example_hunk_view({"diff": label.diff, "existing_gitignore": list(example.existing_gitignore or [])})


def hunk_label_dict(label: Label, hunks: list[Hunk] | None = None) -> dict:
    """The label at hunk level: a hunk-level one as stored, a file-level one converted exactly."""
    data = {"commits": label.commits, "gitignore": label.gitignore, "skipped_hunks": list(label.skipped_hunks or [])}
    if label.granularity == "hunks":
        return data
    return to_hunk_label(data, label_hunks(label) if hunks is None else hunks)


def compute_findings(label: Label, rules=None) -> list[dict]:
    """The automatic-check findings of a label, on the diff its labeler saw.

    Hunk-level labels get the hunk checks (and the text checks); the whole-file rule
    checks are for file-level labels only. Informational findings are marked so.
    """
    example = label.example
    if label.granularity == "hunks":
        found = hunk_findings(
            {"commits": label.commits, "gitignore": label.gitignore, "skipped_hunks": list(label.skipped_hunks or []),
             "injected_files": list(label.injected_files or [])},
            label_hunks(label), {"diff": label.diff}, config=rules or commit_rules())
        return [{**f.as_dict(), "informational": True} if f.check in INFORMATIONAL else f.as_dict() for f in found]
    findings = run_checks(
        {"commits": label.commits, "gitignore": label.gitignore},
        changed_files=list(example.changed_files),
        diff=example.diff + (label.noise_diff or ""),
        injected_files=list(label.injected_files or []),
        existing_gitignore=list(example.existing_gitignore or []),
        config=rules or commit_rules(),
    )
    return [f.as_dict() for f in findings]


def gate_rank(example_key: str, seed: int | None = None) -> float:
    """Uniform in [0, 1) from (seed, example key): the same order for every teacher."""
    seed = settings.REVIEW_GATE_SEED if seed is None else seed
    return seeded_unit(f"{seed}:{example_key}")


def teacher_and_prompt(label: Label) -> tuple[str, str]:
    """The (teacher, prompt version) a label is grouped under; imported labels go by their model name."""
    teacher = label.teacher.name if label.teacher_id else (label.model or label.get_source_display())
    prompt = str(label.prompt_version) if label.prompt_version_id else ""
    return teacher, prompt


def review_item_fields(label: Label) -> dict:
    """The queue columns of a label's review row (its lease and verdict are the review's)."""
    teacher, prompt = teacher_and_prompt(label)
    names = sorted({f["check"] for f in label.findings or []})
    defects = [f for f in label.findings or [] if not f.get("informational")]
    return {
        "example_id": label.example_id,
        "teacher": teacher[:200],
        "prompt": prompt[:200],
        "gate_rank": gate_rank(label.example.key),
        "n_findings": len(defects),
        "checks": (" " + " ".join(names) + " ") if names else "",
    }


def _queued(labels: Sequence[Label]) -> list[Label]:
    return [label for label in labels if label.source != Label.Source.HUMAN]


def store_labels(labels: Sequence[Label]) -> list[Label]:
    """Check and insert new labels, and queue the non-human ones for review, in one transaction.

    Raises IntegrityError (nothing stored) when one breaks a constraint, e.g. a second label
    for an example in the same run; :func:`store_labels_skipping_duplicates` stores the rest.
    """
    labels = list(labels)
    if not labels:
        return labels
    rules = commit_rules()
    for label in labels:
        label.findings = compute_findings(label, rules)
    with transaction.atomic():
        Label.objects.bulk_create(labels)
        ReviewItem.objects.bulk_create([ReviewItem(label=label, **review_item_fields(label))
                                        for label in _queued(labels)])
    return labels


def store_labels_skipping_duplicates(labels: Sequence[Label]) -> tuple[list[Label], list[Label]]:
    """Store a batch; if a constraint refuses it, store them one by one. Returns (stored, refused)."""
    try:
        return store_labels(labels), []
    except IntegrityError:
        stored, refused = [], []
        for label in labels:
            label.pk = None
            try:
                stored += store_labels([label])
            except IntegrityError:
                refused.append(label)
        return stored, refused


def store_label(label: Label) -> Label:
    """Store one label: a new one is inserted, a stored one refreshed (see :func:`refresh_labels`)."""
    if label.pk is None:
        return store_labels([label])[0]
    refresh_labels([label], save=True)
    return label


def refresh_labels(labels: Sequence[Label], save: bool = False) -> None:
    """Re-run the checks of stored labels and refresh their review rows (all fields when ``save``)."""
    labels = list(labels)
    rules = commit_rules()
    for label in labels:
        label.findings = compute_findings(label, rules)
    with transaction.atomic():
        for label in labels:
            if save:
                label.save()
            else:
                Label.objects.filter(pk=label.pk).update(findings=label.findings)
        for label in _queued(labels):
            ReviewItem.objects.update_or_create(label=label, defaults=review_item_fields(label))
