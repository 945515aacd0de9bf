"""SFT export snapshots from the database: one service for the page, the
``export_sft`` command and the Celery task.

The rules (selection, weights, split, augmentation, files) live in the
Django-free ``labeling.export.snapshot``; this module only turns labels and their
review verdicts into its plain records and keeps the snapshot row.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Max

from gsctune.domain.protocol import BUILTIN, ProtocolSpec

from ..labels import teacher_and_prompt
from ..models import Example, Label, PromptVersion, ProtocolVersion, Review, ReviewItem, SFTExport
from ..review.services import latest_verdicts
from . import snapshot as export

PROGRESS_EVERY = 200
# What selection, split and counts read (no diffs): the page's live counts stay fast.
LIGHT_FIELDS = (
    "id", "source", "model", "findings", "teacher_id", "prompt_version_id",
    "example__repo_url", "example__base_commit", "example__head_commit", "example__languages",
    "repaired_at", "repair_note",
)


def label_verdicts(label_ids=None) -> dict[int, tuple[str, int | None]]:
    """Export verdict class of each reviewed label, from its counting review.

    ``{label_id: (verdict, revision_id)}`` where verdict is accepted, rejected or
    corrected (then ``revision_id`` is the human revision to export). Labels not
    in the result are unreviewed. The latest non-skip review counts (review issue).
    """
    out: dict[int, tuple[str, int | None]] = {}
    for label_id, review in latest_verdicts(label_ids).items():
        if review.verdict == Review.Verdict.ACCEPT:
            out[label_id] = ("accepted", None)
        elif review.verdict == Review.Verdict.REJECT:
            out[label_id] = ("rejected", None)
        elif review.verdict == Review.Verdict.CORRECT:
            revision = review.correction_id or (
                Label.objects.filter(revision_of_id=label_id, source=Label.Source.HUMAN)
                .order_by("-id").values_list("id", flat=True).first()
            )
            out[label_id] = ("corrected", revision) if revision else ("rejected", None)
    return out


def _prompt_texts(label: Label) -> dict | None:
    version = label.prompt_version
    if version is None:
        return None
    return {name: getattr(version, name) for name in ("system_prompt", "output_format", "sample_output")}


def _label_dict(label: Label) -> dict:
    return {
        "id": label.pk, "commits": label.commits, "gitignore": label.gitignore, "model": label.model,
        "usage": label.usage, "noise_injected": label.noise_injected, "injected_files": label.injected_files,
        # Skipped hunks: the label's column, else where the proxy and older revisions keep them (usage).
        "granularity": label.granularity,
        "skipped_hunks": list(label.skipped_hunks or (label.usage or {}).get("skipped_hunks") or []),
        "saw_new_content": label.saw_new_content,
    }


def _light_example(label: Label) -> dict:
    ex = label.example
    return {"repo_url": ex.repo_url, "base_commit": ex.base_commit, "head_commit": ex.head_commit,
            "languages": ex.languages}


def build_records(light: bool = False) -> list[dict]:
    """One record per teacher/imported label (a corrected one carries its human revision).

    ``light`` leaves diffs and commits out: enough for selection, split and counts
    (labels failing the schema are only found by the export itself).
    """
    verdicts = label_verdicts()
    related = ["example", "teacher", "prompt_version"]
    labels = Label.objects.exclude(source=Label.Source.HUMAN).select_related(*related)
    if light:
        labels = labels.only(*LIGHT_FIELDS, *(f"{name}__{attr}" for name in related[1:] for attr in ("id", "name")))
    else:
        # The teacher's whole answer (as big as the label) is never exported; the run says what it saw.
        labels = labels.defer("raw_response").select_related("run")
    revisions = Label.objects.select_related("example").filter(
        pk__in=[rev for _, rev in verdicts.values() if rev]
    )
    revisions = {r.pk: r for r in (revisions.only(*LIGHT_FIELDS) if light else revisions.defer("raw_response"))}
    records = []
    for label in labels.iterator(chunk_size=500):
        verdict, revision_id = verdicts.get(label.pk, ("unreviewed", None))
        if verdict == "unreviewed" and label.source == Label.Source.PRODUCTION:
            continue  # the student's own proposal: exported only once a reviewer accepts or corrects it
        exported = revisions[revision_id] if revision_id else label
        teacher, prompt = teacher_and_prompt(label)
        records.append({
            "example": _light_example(exported) if light else exported.as_labeled(),
            "label": {"id": exported.pk} if light else _label_dict(exported),
            "verdict": verdict,
            "teacher": teacher,
            "prompt_version": prompt or None,
            "prompt": None if light else _prompt_texts(label),
            "findings": sorted({f.get("check", "") for f in exported.findings or [] if not f.get("informational")}),
            "repaired": exported.repair_note if exported.repaired_at else "",
        })
    return records


_light_cache: dict[str, tuple] = {}
LIGHT_CACHE_SECONDS = 60


def light_records() -> list[dict]:
    """Light records, reused while labels and reviews are unchanged: the form asks on every change."""
    version = tuple(
        tuple(model.objects.aggregate(n=Count("id"), top=Max("id"), last=Max("created_at")).values())
        for model in (Label, Review)
    )
    cached = _light_cache.get("records")
    if cached and cached[0] == version and time.monotonic() - cached[1] < LIGHT_CACHE_SECONDS:
        return cached[2]
    records = build_records(light=True)
    _light_cache["records"] = (version, time.monotonic(), records)
    return records


def preview(opts: export.ExportOptions) -> dict:
    """What an export with these options would hold (the page's live counts)."""
    the_plan = export.plan(light_records(), opts)
    counts = the_plan.counts()
    counts["val_repositories"] = the_plan.split.val_repos
    counts["languages_not_in_val"] = the_plan.split.uncovered
    counts["language_chart"] = language_chart(counts["by_language"], width=200)
    return counts


def choices() -> dict:
    """Values the export form offers: teachers, prompt versions, checks, repositories, languages,
    protocol versions, and the default target."""
    items = ReviewItem.objects.all()
    labeled = Example.objects.filter(pk__in=Label.objects.values("example_id")).facets()
    checks = set()
    for text in items.exclude(checks="").values_list("checks", flat=True).distinct():
        checks.update(text.split())
    return {
        "teachers": sorted(set(items.values_list("teacher", flat=True))),
        "prompt_versions": sorted(set(items.exclude(prompt="").values_list("prompt", flat=True))),
        "checks": sorted(checks),
        "repositories": labeled["repos"],
        "languages": labeled["languages"] + [export.NO_LANGUAGE],
        "protocols": [(str(v.pk), f"#{v.pk} {v.get_source_display()} {v.content_hash[:12]}")
                      for v in ProtocolVersion.objects.only("id", "source", "content_hash")],
        "system_prompts": [(str(p.pk), f"{p} · {'hunk' if p.granularity == 'hunks' else 'file'} level")
                           for p in PromptVersion.objects.only("id", "name", "granularity")],
        "target": default_target(),
    }


def default_target() -> str:
    """git-smart-commit once a captured protocol exists (what the tool sends), else json-files."""
    captured = ProtocolVersion.objects.filter(source=ProtocolVersion.Source.CAPTURED).exists()
    return export.TOOL_TARGET if captured else export.JSON_FILES


def resolve_protocol(choice: str) -> tuple[ProtocolSpec, dict]:
    """The spec a git-smart-commit export renders with and its manifest entry: a version by id,
    the built-in spec only when asked for by name, else the latest captured version."""
    if choice == export.BUILTIN_PROTOCOL:
        return BUILTIN, {**export.protocol_info(BUILTIN), "renderer_check": "not checked"}
    versions = ProtocolVersion.objects.all()
    if choice:
        if not choice.isdigit() or not versions.filter(pk=int(choice)).exists():
            raise ValueError(f"protocol_version {choice!r}: no such protocol version")
        version = versions.get(pk=int(choice))
    else:
        version = versions.filter(source=ProtocolVersion.Source.CAPTURED).first()
        if version is None:
            raise ValueError("protocol_version: no captured protocol version yet; capture one, "
                             f"or choose {export.BUILTIN_PROTOCOL!r} (not what the tool sends)")
    spec = version.to_spec()
    # content_hash is the rendered spec's; version_hash is the one the protocol page shows;
    # renderer_check: does gsctune's renderer match this capture (ok, mismatch, not checked).
    return spec, {**export.protocol_info(spec, version.pk), "version_hash": version.content_hash,
                  "renderer_check": version.renderer_check().status}


def resolve_target(opts: export.ExportOptions) -> tuple[ProtocolSpec, dict]:
    """A git-smart-commit export's spec and manifest entry: its protocol version, with the system
    prompt the options chose on purpose in place of the protocol's (a prompt version's, or own text)."""
    spec, info = resolve_protocol(opts.protocol_version)
    chosen = opts.system_prompt_from
    if not chosen:
        return spec, info
    if chosen == export.OWN_TEXT:
        return export.choose_system_prompt(spec, info, opts.system_prompt_text)
    prompt = PromptVersion.objects.filter(pk=int(chosen)).only("id", "system_prompt").first()
    if prompt is None:
        raise ValueError(f"system_prompt_from {chosen!r}: no such prompt version")
    if not prompt.system_prompt.strip():
        raise ValueError(f"system_prompt_from {chosen!r}: that prompt version's system prompt is empty")
    return export.choose_system_prompt(spec, info, prompt.system_prompt, prompt.pk)


def create_export(opts: export.ExportOptions, user=None, name: str = "", folder: str | Path | None = None,
                  enqueue: bool = True) -> SFTExport:
    """Store the snapshot row (and queue it); the folder defaults to the artifacts directory.
    A git-smart-commit export is pinned to its protocol version now; ValueError (naming the option)
    if there is none, or the chosen system prompt does not resolve: nothing is queued to fail."""
    if opts.target == export.TOOL_TARGET:
        _, info = resolve_target(opts)
        opts = replace(opts, protocol_version=str(info["id"]) if info["id"] else export.BUILTIN_PROTOCOL)
    job = SFTExport.objects.create(name=name[:200], options=asdict(opts), created_by=user,
                                   folder=str(Path(folder).resolve()) if folder else "")
    if not folder:
        job.folder = str(Path(settings.ARTIFACTS_DIR) / "exports" / f"{job.pk:05d}")
        job.save(update_fields=["folder"])
    if enqueue:
        job.enqueue()
    return job


def run_export_job(job: SFTExport, progress) -> None:
    opts = export.ExportOptions(**job.options)
    progress.message("reading labels")
    records = build_records()
    progress.message(f"exporting {len(records)} labels")

    def tick(done: int, total: int) -> None:
        if done == 1:
            progress.set_total(total)
        if done % PROGRESS_EVERY == 0 or done == total:
            progress.set_counts(done)
            progress.raise_if_cancelled()

    spec, protocol = resolve_target(opts) if opts.target == export.TOOL_TARGET else (None, None)
    result = export.export(records, opts, job.folder, progress=tick, spec=spec, protocol=protocol)
    manifest = result.manifest
    job.summary = {k: v for k, v in manifest.items() if k != "records"}
    job.train_rows = manifest["counts"]["train_rows"]
    job.val_rows = manifest["counts"]["val_rows"]
    job.manifest_sha256 = result.files["manifest.json"]["sha256"]
    job.status_message = summary_line(manifest)
    job.save(update_fields=["summary", "train_rows", "val_rows", "manifest_sha256", "status_message"])


def flag_snapshots_made_before_repair() -> int:
    """Note on snapshots made before a data repair that they hold labels it changed (the page says so).

    Their files stay as they were (their sha256 are in the manifest); the note tells to export again.
    """
    repaired = dict(Label.objects.filter(repaired_at__isnull=False).values_list("id", "repaired_at"))
    flagged = 0
    if not repaired:
        return flagged
    for job in SFTExport.objects.filter(state="succeeded").exclude(folder=""):
        path = job.file_path("manifest.json")
        if not path.is_file():
            continue
        records = json.loads(path.read_text(encoding="utf-8")).get("records", [])
        stale = sorted({r["label_id"] for r in records
                        if r.get("label_id") in repaired and repaired[r["label_id"]] > job.created_at})
        if stale and job.summary.get("labels_repaired_later") != stale:
            job.summary = {**job.summary, "labels_repaired_later": stale}
            job.save(update_fields=["summary"])
            flagged += 1
    return flagged


def summary_line(manifest: dict) -> str:
    c = manifest["counts"]
    text = (f"{c['train_rows']} train rows ({c['train_examples']} examples, {c['augmented_rows']} augmented), "
            f"{c['val_rows']} val rows, {c['truncated_examples']} truncated")
    if manifest["over_budget"]:
        text += f", {len(manifest['over_budget'])} over budget"
    return text


def language_chart(by_language: dict, width: int = 360, bar: int = 14, gap: int = 6, label_w: int = 90) -> dict:
    """Geometry of a stacked train/val bar per language (the page draws it as inline SVG)."""
    top = max((r["train"] + r["val"] for r in by_language.values()), default=0) or 1
    rows = []
    order = sorted(by_language.items(), key=lambda kv: (-(kv[1]["train"] + kv[1]["val"]), kv[0]))
    for i, (lang, r) in enumerate(order):
        train_w = round(width * r["train"] / top, 1)
        val_w = round(width * r["val"] / top, 1)
        y = i * (bar + gap)
        rows.append({"lang": lang, "train": r["train"], "val": r["val"], "y": y, "text_y": y + bar - 3,
                     "train_w": train_w, "val_x": label_w + train_w, "val_w": val_w,
                     "count_x": label_w + train_w + val_w + 4})
    return {"rows": rows, "height": max(1, len(rows) * (bar + gap)), "width": label_w + width + 60,
            "bar": bar, "label_w": label_w}


def verdict_counts() -> Counter:
    """Labels per export verdict class, for the page header."""
    counts: Counter = Counter()
    verdicts = label_verdicts()
    for label_id in Label.objects.exclude(source=Label.Source.HUMAN).values_list("id", flat=True):
        counts[verdicts.get(label_id, ("unreviewed", None))[0]] += 1
    return counts
