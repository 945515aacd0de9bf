"""Teachers, prompt versions, labeling runs and the examples a run could not label."""
import hashlib
import os
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

from gsctune import targets
from gsctune.jobs import Job

from .examples import Example

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


class Granularity(models.TextChoices):
    """What a prompt asks for and a label holds: whole files per commit, or the tool's hunk ids."""

    FILES = "files", "Files"
    HUNKS = "hunks", "Hunks"


class PromptVersion(models.Model):
    """The three texts of a labeling prompt, and the protocol version a hunk-level one was made from.
    Immutable once a label or run used it (texts and link)."""

    Granularity = Granularity

    name = models.CharField(max_length=100)
    granularity = models.CharField(max_length=5, choices=Granularity.choices, default=Granularity.FILES,
                                   help_text="Files: commits list files. Hunks: commits list git-smart-commit's hunk ids.")
    system_prompt = models.TextField()
    output_format = models.TextField(blank=True)
    sample_output = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_default = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    # PROTECT: the link is the prompt's provenance; a protocol that a prompt was made from stays,
    # rather than its prompts silently falling back to "own system prompt".
    protocol_version = models.ForeignKey(
        "labeling.ProtocolVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="prompt_versions",
        help_text="The protocol version whose system prompt this hunk-level prompt was made from.")
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    def get_absolute_url(self) -> str:
        return reverse("prompt-detail", args=[self.pk])

    def compute_hash(self) -> str:
        parts = [self.system_prompt.strip(), self.output_format.strip(), self.sample_output.strip()]
        if self.granularity != Granularity.FILES:  # file-level hashes stay what they were
            parts.append(self.granularity)
        text = "\0".join(parts)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def serves(self) -> targets.Served:
        """Hunk ids serve git-smart-commit (with the protocol it was made from), files json-files."""
        return targets.for_prompt(self.granularity, self)

    @property
    def is_used(self) -> bool:
        return bool(self.pk) and (self.labels.exists() or self.runs.exists())

    def save(self, *args, **kwargs):
        new_hash = self.compute_hash()
        if self.pk:
            stored = type(self).objects.filter(pk=self.pk).values_list("content_hash", "protocol_version_id").first()
            if stored and stored != (new_hash, self.protocol_version_id) and self.is_used:
                raise ValidationError("This prompt version is used by labels or runs and cannot change; save a new version.")
        self.content_hash = new_hash
        super().save(*args, **kwargs)


class LabelingRun(Job):
    """Label a selection of examples with one teacher and prompt version (see labeling.runs.services)."""

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
    teacher_sees_new_content = models.BooleanField(
        "show new files' content to the teacher", default=False,
        help_text="Hunk-level prompts only. git-smart-commit lists a new file without its content; by default "
                  "the teacher sees the hunk list as the tool shows it. Ticked, it sees new files' content too, "
                  "and the tool-target export adds the read_file turn the student needs to see it.")
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

    @property
    def serves(self) -> targets.Served:
        return self.prompt_version.serves


    def clean(self) -> None:
        super().clean()
        if self.teacher_sees_new_content and self.prompt_version_id \
                and self.prompt_version.granularity != PromptVersion.Granularity.HUNKS:
            raise ValidationError({"teacher_sees_new_content": (
                "Only a hunk-level prompt version hides new files' content: a file-level teacher always "
                "sees the whole diff.")})

    def reopen_work(self) -> None:
        """A finished run's open failures are tried again by its next execution."""
        if self.is_final:
            self.failures.filter(state=LabelFailure.State.OPEN).update(state=LabelFailure.State.RETRY)

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
    """An example a run could not label, with the reason; one row per (example, run).

    ``state`` is ``open`` (counted as failed; an execution leaves it alone), ``retry`` (the
    next execution tries it again: set by resuming or reopening the run; another failed try
    makes it ``open`` again) or ``resolved`` (a later try labeled it).
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        RETRY = "retry", "Retry on the next execution"
        RESOLVED = "resolved", "Resolved by a later try"

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
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["example", "run"], name="label_failure_one_per_example_and_run")]

    def __str__(self) -> str:
        return f"{self.kind} for example {self.example_id} in run {self.run_id}"
