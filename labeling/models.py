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
        BASELINE = "baseline", "Baseline"
        IMPORTED = "imported", "Imported"
        HUMAN = "human", "Human correction"
        PRODUCTION = "production", "Production (recorded through the proxy)"

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
    # Labeling-run provenance (issue 3); empty for imported and human labels.
    run = models.ForeignKey("LabelingRun", null=True, blank=True, on_delete=models.CASCADE, related_name="labels")
    teacher = models.ForeignKey("Teacher", null=True, blank=True, on_delete=models.SET_NULL, related_name="labels")
    prompt_version = models.ForeignKey(
        "PromptVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="labels"
    )
    raw_response = models.TextField(blank=True, help_text="The model's answer text as received.")
    finish_reason = models.CharField(max_length=40, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    request_attempts = models.PositiveSmallIntegerField(default=0)
    repair_turns = models.PositiveSmallIntegerField(default=0)
    # Set by migration 0004 on human corrections that had stored template text as .gitignore patterns.
    repaired_at = models.DateTimeField(null=True, blank=True, help_text="When a data repair changed this label.")
    repair_note = models.TextField(blank=True, help_text="What the repair changed.")

    class Meta:
        ordering = ["id"]
        constraints = [
            # Nothing twice: at most one label per example and labeling run.
            models.UniqueConstraint(fields=["example", "run"], condition=models.Q(run__isnull=False),
                                    name="label_one_per_example_and_run"),
        ]

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
    # Chosen by the review page once per verdict, so a verdict sent twice is stored once.
    token = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "reviewer", "token"], condition=~models.Q(token=""),
                                    name="review_one_per_token"),
        ]

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


# --------------------------------------------------------------------------- labeling runs (issue 3)

import hashlib  # noqa: E402
import os  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.core.exceptions import ValidationError  # noqa: E402
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator  # noqa: E402

ENV_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]*$", "The name of an environment variable (letters, digits, _), not the key itself."
)
MILLION = Decimal(1_000_000)


class Teacher(models.Model):
    """An OpenAI-compatible endpoint and model that labels examples (or the offline baseline).

    The API key is never stored: ``api_key_env`` names the environment variable that holds it.
    """

    class ReasoningEffort(models.TextChoices):
        NONE = "", "Not sent"
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    name = models.CharField(max_length=100, unique=True)
    is_baseline = models.BooleanField(
        default=False, help_text="The rule-based baseline (serve_baseline), not a teacher model."
    )
    base_url = models.CharField(max_length=500, help_text="e.g. https://openrouter.ai/api/v1 or http://127.0.0.1:8000/v1")
    model = models.CharField(max_length=200)
    api_key_env = models.CharField(
        "API key environment variable", max_length=100, blank=True, validators=[ENV_NAME_VALIDATOR],
        help_text="Name of the environment variable holding the key (e.g. OPENROUTER_API_KEY). Blank: no key.",
    )
    temperature = models.FloatField(null=True, blank=True, default=0.2,
                                    validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    max_output_tokens = models.PositiveIntegerField(default=4096, validators=[MinValueValidator(16)])
    reasoning_effort = models.CharField(max_length=10, blank=True, choices=ReasoningEffort.choices)
    request_timeout = models.FloatField(default=120.0, validators=[MinValueValidator(1.0)], help_text="Seconds.")
    max_concurrency = models.PositiveIntegerField(default=16, validators=[MinValueValidator(1), MaxValueValidator(1024)])
    price_input_per_million = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0),
                                                  help_text="Price per million input tokens.")
    price_output_per_million = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0),
                                                   help_text="Price per million output tokens.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({'baseline' if self.is_baseline else self.model})"

    @property
    def kind(self) -> str:
        return "baseline" if self.is_baseline else "teacher"

    @property
    def api_key_present(self) -> bool:
        return bool(self.api_key_env and os.environ.get(self.api_key_env))

    def api_key(self) -> str:
        """Read at call time from the environment; never stored or rendered."""
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""

    def get_absolute_url(self) -> str:
        return reverse("teacher-edit", args=[self.pk])


class PromptVersion(models.Model):
    """The three texts of a labeling prompt. Immutable once a label or run used it."""

    name = models.CharField(max_length=100)
    system_prompt = models.TextField()
    output_format = models.TextField(blank=True)
    sample_output = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_default = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    def get_absolute_url(self) -> str:
        return reverse("prompt-detail", args=[self.pk])

    def compute_hash(self) -> str:
        text = "\0".join([self.system_prompt.strip(), self.output_format.strip(), self.sample_output.strip()])
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def is_used(self) -> bool:
        return bool(self.pk) and (self.labels.exists() or self.runs.exists())

    def save(self, *args, **kwargs):
        new_hash = self.compute_hash()
        if self.pk and new_hash != self.content_hash:
            if type(self).objects.get(pk=self.pk).is_used:
                raise ValidationError("This prompt version is used by labels or runs and cannot change; save a new version.")
        self.content_hash = new_hash
        super().save(*args, **kwargs)


class LabelingRun(Job):
    """Label a selection of examples with one teacher and prompt version (see services_labeling)."""

    class Selection(models.TextChoices):
        UNLABELED = "unlabeled", "All examples not yet labeled by this teacher and prompt"
        SAMPLE = "sample", "A seeded random sample"
        FILTER = "filter", "A filter"
        LIST = "list", "An explicit list"

    name = models.CharField(max_length=200, blank=True)
    teacher = models.ForeignKey(Teacher, on_delete=models.PROTECT, related_name="runs")
    prompt_version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="runs")
    selection = models.CharField(max_length=10, choices=Selection.choices, default=Selection.UNLABELED)
    sample_size = models.PositiveIntegerField(null=True, blank=True)
    selection_seed = models.IntegerField(default=0)
    filter_repo = models.CharField(max_length=300, blank=True, help_text="Substring of the repository URL.")
    filter_language = models.CharField(max_length=50, blank=True)
    filter_max_diff_chars = models.PositiveIntegerField(null=True, blank=True)
    example_list = models.JSONField(default=list, blank=True, help_text="Example ids or keys (selection 'list').")
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="At most this many examples.")
    noise_probability = models.FloatField(default=0.3, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    noise_seed = models.IntegerField(default=0)
    max_diff_chars = models.PositiveIntegerField(default=60000, validators=[MinValueValidator(1000)])
    concurrency = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the teacher's maximum.")
    # The resolved selection, frozen when the run first executes so resumes see the same examples.
    selected_ids = models.JSONField(null=True, blank=True, editable=False)
    # Prices copied from the teacher at creation, so later edits do not rewrite history.
    price_input_per_million = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0))
    price_output_per_million = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0))
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0, help_text="HTTP requests, retries and repair turns included.")
    in_flight = models.PositiveIntegerField(default=0)
    latency_ms_total = models.BigIntegerField(default=0)
    last_errors = models.JSONField(default=list, blank=True)

    status_template = "labeling/runs/_status.html"

    def __str__(self) -> str:
        return f"Labeling run {self.pk}{': ' + self.name if self.name else ''}"

    def get_absolute_url(self) -> str:
        return reverse("labeling-run-detail", args=[self.pk])

    def resume_url(self) -> str:
        return reverse("labeling-run-resume", args=[self.pk])

    def perform(self, progress) -> None:
        from .services_labeling import execute_run

        execute_run(self, progress)

    def resume(self) -> bool:
        """Queue a finished run again: unhandled examples and its failures are retried."""
        if self.state in ("succeeded", "failed", "cancelled"):
            self.failures.filter(resolved=False).update(pending_retry=True)
        return super().resume()

    # --- figures for the live page --------------------------------------------------------
    @property
    def cost(self) -> Decimal:
        return (Decimal(self.prompt_tokens) * self.price_input_per_million
                + Decimal(self.completion_tokens) * self.price_output_per_million) / MILLION

    @property
    def handled(self) -> int:
        return self.progress_done + self.progress_failed

    @property
    def cost_per_example(self) -> Decimal | None:
        return self.cost / self.handled if self.handled else None

    @property
    def projected_cost(self) -> Decimal | None:
        """Cost of the whole selection at the rate so far."""
        per = self.cost_per_example
        return per * self.progress_total if per is not None and self.progress_total else None

    @property
    def projected_cost_all_examples(self) -> Decimal | None:
        per = self.cost_per_example
        return per * Example.objects.count() if per is not None else None

    @property
    def mean_latency_s(self) -> float | None:
        return self.latency_ms_total / 1000 / self.handled if self.handled else None

    @property
    def pending(self) -> int | None:
        if self.progress_total is None:
            return None
        return max(0, self.progress_total - self.handled)


class LabelFailure(models.Model):
    """An example a run could not label, with the reason; one row per (example, run)."""

    run = models.ForeignKey(LabelingRun, on_delete=models.CASCADE, related_name="failures")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="label_failures")
    kind = models.CharField(max_length=30, db_index=True,
                            help_text="rate_limited, server_error, timeout, connection, http_error, bad_response, "
                                      "truncated, unparseable, empty")
    message = models.TextField()
    raw_response = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    usage = models.JSONField(default=dict, blank=True, help_text="Tokens the server reported, all tries summed.")
    tries = models.PositiveSmallIntegerField(default=1, help_text="Times the run tried this example.")
    pending_retry = models.BooleanField(default=False, help_text="Retry on the next execution of the run.")
    resolved = models.BooleanField(default=False, db_index=True, help_text="A later try labeled it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["example", "run"], name="label_failure_one_per_example_and_run")]

    def __str__(self) -> str:
        return f"{self.kind} for example {self.example_id} in run {self.run_id}"


# --------------------------------------------------------------------------- protocol versions (issue 13)


class ProtocolVersion(models.Model):
    """git-smart-commit's protocol as data: what the tool sends and how it replies.

    Captured from the user's running tool (``manage.py capture_protocol``) or built in.
    A version never changes once saved: a capture that differs is a new version, and
    ``drift_diff`` says how it differs from the one stored before it.
    """

    class Source(models.TextChoices):
        CAPTURED = "captured", "Captured from the tool"
        BUILTIN = "builtin", "Built in (not what the tool sends)"

    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CAPTURED)
    tool_name = models.CharField(max_length=100, default="git-smart-commit")
    tool_commit = models.CharField(max_length=100, blank=True, help_text="As the user gives it (a SHA, a tag, a version).")
    system_prompt = models.TextField()
    tools = models.JSONField(default=list, help_text="The OpenAI function specs the tool sends.")
    user_turn = models.TextField(blank=True, help_text="The first user message as captured.")
    user_layout = models.JSONField(default=dict, help_text="Its structure with the repository's values taken out.")
    replies = models.JSONField(default=dict, help_text="The tool's replies to each scripted move, as captured.")
    reply_layouts = models.JSONField(default=dict)
    raw_capture = models.JSONField(default=list, help_text="Every request of the capture session, in order.")
    content_hash = models.CharField(max_length=64, unique=True, editable=False)
    drift_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   help_text="The latest version stored before this one.")
    drift_diff = models.TextField(blank=True, help_text="Unified diff against drift_from.")
    captured_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.tool_name} protocol #{self.pk} ({self.content_hash[:12]})"

    def get_absolute_url(self) -> str:
        return reverse("protocol-detail", args=[self.pk])

    def compute_hash(self) -> str:
        from .protocol.layout import content_hash

        return content_hash(self.system_prompt, self.tools, self.user_layout, self.reply_layouts)

    def to_spec_dict(self) -> dict:
        """The protocol as plain data (system prompt, tools, layouts, replies, tool, hash)."""
        return {
            "system_prompt": self.system_prompt, "tools": self.tools, "user_turn": self.user_turn,
            "user_layout": self.user_layout, "replies": self.replies, "reply_layouts": self.reply_layouts,
            "tool_name": self.tool_name, "tool_commit": self.tool_commit, "source": self.source,
            "content_hash": self.content_hash,
        }

    def save(self, *args, **kwargs):
        new_hash = self.compute_hash()
        if self.pk and new_hash != type(self).objects.filter(pk=self.pk).values_list("content_hash", flat=True).first():
            raise ValidationError("A protocol version never changes; store a new capture instead.")
        self.content_hash = new_hash
        super().save(*args, **kwargs)


class CaptureJob(Job):
    """A capture started from the page: a worker serves the endpoint, waits for the tool, stores a version."""

    port = models.PositiveIntegerField(default=8766, validators=[MinValueValidator(1024), MaxValueValidator(65535)],
                                       help_text="Port on 127.0.0.1 of the worker's machine.")
    model_name = models.CharField("model", max_length=100, default="capture",
                                  help_text="The --model to pass to the tool; /v1/models lists it first.")
    tool_name = models.CharField(max_length=100, default="git-smart-commit")
    tool_commit = models.CharField(max_length=100, blank=True, help_text="The tool's commit or version, as you know it.")
    timeout_s = models.PositiveIntegerField("timeout (seconds)", default=900,
                                            validators=[MinValueValidator(10), MaxValueValidator(3600)])
    make_scratch = models.BooleanField("make a scratch repository", default=True,
                                       help_text="The worker makes one under the data directory to run the tool in.")
    scratch_path = models.CharField(max_length=1000, blank=True, editable=False)
    protocol_version = models.ForeignKey(ProtocolVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="captures")
    new_version = models.BooleanField(default=False)
    drifted = models.BooleanField(default=False, help_text="Differs from the version stored before it.")

    status_template = "labeling/protocol/_capture_status.html"

    def __str__(self) -> str:
        return f"Capture {self.pk} on port {self.port}"

    def get_absolute_url(self) -> str:
        return reverse("protocol-capture-detail", args=[self.pk])

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def tool_command(self) -> str:
        from .protocol.scratch import tool_command

        prefix = f"cd {self.scratch_path} && " if self.scratch_path else ""
        return prefix + tool_command(self.api_base, self.model_name)

    def perform(self, progress) -> None:
        from .protocol.run import run_capture_job

        run_capture_job(self, progress)
