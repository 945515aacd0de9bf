"""Harvested examples, their labels, and the import job that brings them in."""
from django.db import models
from django.urls import reverse

from gsctune.jobs import Job

# The harvested JSONL format, key order as written by harvesters (DESIGN.md).
HARVEST_FIELDS = (
    "repo_url",
    "branch",
    "base_commit",
    "head_commit",
    "n_commits",
    "diff",
    "changed_files",
    "original_commits",
    "existing_gitignore",
    "languages",
)


def example_key(repo_url: str, base_commit: str, head_commit: str) -> str:
    return f"{repo_url}@{base_commit}..{head_commit}"


class Example(models.Model):
    """One harvested span of commits, presented as an uncommitted working tree."""

    key = models.CharField(max_length=500, unique=True)
    repo_url = models.CharField(max_length=300, db_index=True)
    branch = models.CharField(max_length=255)
    base_commit = models.CharField(max_length=64)
    head_commit = models.CharField(max_length=64)
    n_commits = models.PositiveSmallIntegerField(db_index=True)
    diff = models.TextField()
    changed_files = models.JSONField(default=list)
    original_commits = models.JSONField(default=list)
    existing_gitignore = models.JSONField(default=list)
    languages = models.JSONField(default=list)
    # Derived at import so the browser can filter and sort without reading diffs.
    diff_chars = models.PositiveIntegerField(db_index=True)
    n_files = models.PositiveSmallIntegerField(db_index=True)
    languages_text = models.CharField(max_length=300, blank=True, help_text="Space-padded language list, for filtering.")
    warnings = models.JSONField(default=list, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.key

    def get_absolute_url(self) -> str:
        return reverse("example-detail", args=[self.pk])

    @property
    def repo_name(self) -> str:
        return self.repo_url.removeprefix("github.com/")

    @property
    def first_subject(self) -> str:
        return self.original_commits[0]["subject"] if self.original_commits else ""

    def as_harvested(self) -> dict:
        """The example in the harvested JSONL format, exactly its keys in their order."""
        return {field: getattr(self, field) for field in HARVEST_FIELDS}


class Label(models.Model):
    """A proposal of commits for an example: from a teacher, an imported file, or a human.

    A human correction is a new Label with ``revision_of`` pointing at the label it
    corrects. When noise was injected, the junk files' diff text is kept in
    ``noise_diff`` so the exact input the labeler saw is ``example.diff + noise_diff``.
    """

    class Source(models.TextChoices):
        TEACHER = "teacher", "Teacher"
        IMPORTED = "imported", "Imported"
        HUMAN = "human", "Human correction"

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="labels")
    source = models.CharField(max_length=10, choices=Source.choices, db_index=True)
    model = models.CharField(max_length=200, blank=True, help_text="Model that produced the label.")
    commits = models.JSONField(default=list)
    gitignore = models.JSONField(default=list, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    noise_injected = models.BooleanField(default=False)
    injected_files = models.JSONField(default=list, blank=True)
    noise_diff = models.TextField(blank=True)
    revision_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="revisions"
    )
    findings = models.JSONField(default=list, blank=True, help_text="Automatic-check findings.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Label {self.pk} ({self.get_source_display()}) for {self.example_id}"

    @property
    def diff(self) -> str:
        """The diff the labeler saw: the example's plus any injected junk."""
        return self.example.diff + self.noise_diff

    @property
    def changed_files(self) -> list[str]:
        return list(self.example.changed_files) + [f for f in self.injected_files if f not in self.example.changed_files]

    def label_object(self) -> dict:
        """The ``label`` object of the labeled JSONL format (DESIGN.md)."""
        return {"commits": self.commits, "gitignore": self.gitignore, "model": self.model, "usage": self.usage}

    def as_labeled(self) -> dict:
        """The example in the user's labeled JSONL format."""
        record = self.example.as_harvested()
        record["diff"] = self.diff
        record["changed_files"] = self.changed_files
        record["noise_injected"] = self.noise_injected
        record["injected_files"] = list(self.injected_files)
        record["label"] = self.label_object()
        return record


class ImportJob(Job):
    """Import of one uploaded or local JSONL file (harvested or labeled format)."""

    source_path = models.CharField(max_length=1000)
    original_name = models.CharField(max_length=255)
    imported = models.PositiveIntegerField(default=0)
    already_present = models.PositiveIntegerField(default=0)
    bad_lines = models.PositiveIntegerField(default=0)
    labels_imported = models.PositiveIntegerField(default=0)
    warnings_count = models.PositiveIntegerField(default=0)
    # The first problems found, each {"line": n, "reason": "..."}; all of them are counted.
    problems = models.JSONField(default=list, blank=True)

    status_template = "labeling/_import_status.html"

    def __str__(self) -> str:
        return f"Import {self.pk}: {self.original_name}"

    def get_absolute_url(self) -> str:
        return reverse("import-detail", args=[self.pk])

    def perform(self, progress) -> None:
        from .services import run_import_job

        run_import_job(self, progress)


# --------------------------------------------------------------------------- review (issue 4)

from django.db.models.signals import post_save, pre_save  # noqa: E402
from django.dispatch import receiver  # noqa: E402


class ReviewItem(models.Model):
    """Queue state of one label under review: filter columns, gate order and the lease.

    One row per non-human label, kept in step by ``labeling.services_review`` so the
    "next item" query reads a single indexed table. The lease (``leased_by`` until
    ``lease_expires``) is taken with a conditional UPDATE, so two reviewers never
    hold the same item.
    """

    label = models.OneToOneField(Label, on_delete=models.CASCADE, primary_key=True, related_name="review_item")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="+")
    teacher = models.CharField(max_length=200, db_index=True)
    prompt = models.CharField(max_length=200, blank=True, db_index=True)
    # Uniform in [0, 1), seeded per example key: the gate queue walks it in order, so any
    # prefix is a uniform random sample, the same examples for every teacher.
    gate_rank = models.FloatField(db_index=True)
    n_findings = models.PositiveIntegerField(default=0, db_index=True)
    checks = models.CharField(max_length=500, blank=True, help_text="Space-separated check names found.")
    verdict = models.CharField(max_length=10, blank=True, db_index=True, help_text="Latest verdict; blank = none.")
    n_reviewers = models.PositiveSmallIntegerField(default=0)
    leased_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    lease_expires = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["verdict", "gate_rank"], name="review_item_gate"),
            models.Index(fields=["verdict", "n_findings"], name="review_item_triage"),
        ]

    def __str__(self) -> str:
        return f"Review item for label {self.label_id}"


class Review(models.Model):
    """One reviewer's verdict on a label; the latest non-skip verdict per label counts."""

    class Verdict(models.TextChoices):
        ACCEPT = "accept", "Accept"
        REJECT = "reject", "Reject"
        CORRECT = "correct", "Correct"
        SKIP = "skip", "Skip"

    class Reason(models.TextChoices):
        GROUPING = "grouping", "Wrong grouping"
        TYPE = "type", "Wrong type"
        HALLUCINATION = "hallucination", "Hallucinated content"
        MESSAGE = "message", "Vague or wrong message"
        JUNK = "junk", "Junk committed"
        MISSED_ISSUE = "missed_issue", "Missed issue"
        OTHER = "other", "Other"

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="label_reviews")
    verdict = models.CharField(max_length=10, choices=Verdict.choices, db_index=True)
    reasons = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    # For a correction: the new human Label revision it created.
    correction = models.OneToOneField(
        Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="correcting_review"
    )
    seconds_spent = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} of label {self.label_id} by {self.reviewer_id}"


@receiver(pre_save, sender=Label)
def _label_findings(sender, instance, raw=False, **kwargs):
    """Run the automatic checks whenever a label is stored (teacher, import or correction)."""
    if not raw:
        from .services_review import compute_findings

        instance.findings = compute_findings(instance)


@receiver(post_save, sender=Label)
def _label_review_item(sender, instance, raw=False, **kwargs):
    if not raw:
        from .services_review import sync_review_items

        sync_review_items([instance])


class SFTExport(Job):
    """A training-data snapshot: train/val/labeled JSONL and a manifest in ``folder``.

    ``options`` are the :class:`labeling.export.ExportOptions`; the same options on
    the same data give byte-identical files (their sha256 are in ``manifest``).
    """

    name = models.CharField(max_length=200, blank=True)
    options = models.JSONField(default=dict)
    folder = models.CharField(max_length=1000, blank=True, help_text="Snapshot folder (set when it runs).")
    # The manifest without its per-record provenance (that stays in manifest.json).
    summary = models.JSONField(default=dict, blank=True)
    train_rows = models.PositiveIntegerField(default=0)
    val_rows = models.PositiveIntegerField(default=0)
    manifest_sha256 = models.CharField(max_length=64, blank=True)

    status_template = "labeling/export/_status.html"

    def __str__(self) -> str:
        return f"Export {self.pk}{': ' + self.name if self.name else ''}"

    def get_absolute_url(self) -> str:
        return reverse("export-detail", args=[self.pk])

    def file_path(self, name: str):
        """Path of one output file (train.jsonl, val.jsonl, labeled.jsonl, manifest.json)."""
        from pathlib import Path

        return Path(self.folder) / name

    def perform(self, progress) -> None:
        from .services_export import run_export_job

        run_export_job(self, progress)
