"""Eval runs with their predictions, and blind side-by-side comparison sets with votes."""
from django.conf import settings
from django.db import models
from django.urls import reverse

from gsctune import targets
from gsctune.jobs import Job


class EvalRun(Job):
    """One candidate system run over a fixed list of examples with one prompt.

    The example list is resolved when the run is created and stored, so a
    resumed run (or a rerun of the report) sees exactly the same examples.
    """

    class Backend(models.TextChoices):
        ENDPOINT = "endpoint", "OpenAI-compatible endpoint"
        ADAPTER = "adapter", "Adapter (transformers + PEFT on the worker)"

    class Target(models.TextChoices):
        JSON_FILES = "json-files", "json-files (one JSON answer)"
        GIT_SMART_COMMIT = "git-smart-commit", "git-smart-commit (tool loop)"

    class ProtocolBackend(models.TextChoices):
        V1 = "v1", "/v1 (llama-server, vLLM …)"
        OLLAMA = "ollama", "Native Ollama /api/chat"

    class PromptKind(models.TextChoices):
        FINETUNE = "finetune", "Short finetune prompt"
        LABELING = "labeling", "Labeling prompt"

    name = models.CharField(max_length=200)
    backend = models.CharField(max_length=10, choices=Backend.choices, default=Backend.ENDPOINT)
    base_url = models.CharField(max_length=500, blank=True)
    model = models.CharField(max_length=200, blank=True, help_text="Model name sent to the endpoint.")
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable holding the API key (never the key).")
    base_model_path = models.CharField(max_length=1000, blank=True, help_text="Adapter runs: the base model folder.")
    adapter_path = models.CharField(max_length=1000, blank=True, help_text="Adapter runs: the adapter folder.")
    training_run = models.ForeignKey(
        "training.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="eval_runs",
        help_text="The training run whose adapter (or merged model) this evaluates.")
    prompt_kind = models.CharField(max_length=10, choices=PromptKind.choices, default=PromptKind.FINETUNE)
    prompt_version = models.ForeignKey(
        "labeling.PromptVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Labeling prompt version (labeling prompt only); empty means the default labeling prompt.")
    target = models.CharField(max_length=20, choices=Target.choices, default=Target.JSON_FILES)
    protocol_version = models.ForeignKey(
        "labeling.ProtocolVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="git-smart-commit runs: the captured protocol played; empty means the built-in one.")
    protocol_backend = models.CharField(
        max_length=10, choices=ProtocolBackend.choices, default=ProtocolBackend.V1,
        help_text="git-smart-commit runs: the backend whose compaction thresholds and request shape are simulated.")
    max_diff_chars = models.PositiveIntegerField(null=True, blank=True)
    temperature = models.FloatField(default=0.0)
    max_tokens = models.PositiveIntegerField(default=4096)
    concurrency = models.PositiveSmallIntegerField(default=4)
    timeout_s = models.FloatField(default=300.0)
    examples_source = models.CharField(max_length=300, blank=True, help_text="How the examples were chosen.")
    export_id = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    example_ids = models.JSONField(default=list)
    summary = models.JSONField(default=dict, blank=True, help_text="Aggregated metrics, filled when the run ends.")

    status_template = "evaluation/_run_status.html"

    def __str__(self) -> str:
        return f"Eval {self.pk}: {self.name}"

    @property
    def queue(self) -> str:  # type: ignore[override]
        return "gpu" if self.backend == self.Backend.ADAPTER else "default"

    @property
    def system_label(self) -> str:
        if self.backend == self.Backend.ADAPTER:
            return f"adapter {self.adapter_path}"
        return f"{self.model} @ {self.base_url}"

    @property
    def is_protocol(self) -> bool:
        return self.target == self.Target.GIT_SMART_COMMIT

    def get_absolute_url(self) -> str:
        return reverse("eval-run-detail", args=[self.pk])

    @property
    def serves(self) -> targets.Served:
        """Its target; a git-smart-commit run plays its protocol version, or the built-in one."""
        return targets.for_eval(self.target, self.protocol_version, self.get_protocol_backend_display())



class Prediction(models.Model):
    """One system output for one example, kept whole: raw text, parse result, cost, scores."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="predictions")
    example = models.ForeignKey("labeling.Example", on_delete=models.CASCADE, related_name="+")
    reference = models.ForeignKey(
        "labeling.Label", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The label scored against: the latest human correction, else the latest teacher label.")
    raw = models.TextField(blank=True)
    proposal = models.JSONField(null=True, blank=True)
    json_found = models.BooleanField(default=False, help_text="A JSON object with commits was found.")
    parse_error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=30, blank=True, db_index=True)
    error = models.TextField(blank=True, help_text="Request failure (the prediction is not scored).")
    finish_reason = models.CharField(max_length=30, blank=True)
    latency_s = models.FloatField(default=0.0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    scores = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=20, blank=True,
                               help_text="git-smart-commit runs: finalized, out_of_turns, crashed or error.")
    counters = models.JSONField(default=dict, blank=True, help_text="git-smart-commit runs: the episode's counters.")
    transcript = models.JSONField(default=list, blank=True,
                                  help_text="git-smart-commit runs: every message of the conversation, in order.")
    request_latencies = models.JSONField(
        default=list, blank=True,
        help_text="git-smart-commit runs: seconds per candidate request (side requests included), in order; "
                  "latency_s is the episode's wall time.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run", "example"], name="prediction_once_per_example")]

    def __str__(self) -> str:
        return f"Prediction {self.pk} of run {self.run_id} on example {self.example_id}"

    @property
    def failed(self) -> bool:
        """The request itself failed (remote error): not a model output, not scored."""
        return bool(self.error)

    def get_absolute_url(self) -> str:
        return reverse("eval-prediction", args=[self.run_id, self.pk])

    @property
    def serves(self) -> targets.Served:
        return self.run.serves


# --------------------------------------------------------------------------- blind comparisons

CRITERIA = (
    ("accuracy", "Accuracy"),
    ("specificity", "Specificity"),
    ("brevity", "Brevity"),
    ("type", "Type correctness"),
    ("order", "Commit order"),
)


class ComparisonSet(models.Model):
    """Outputs of two or more systems on the same examples, scored blind by reviewers."""

    name = models.CharField(max_length=200)
    seed = models.PositiveIntegerField(default=0, help_text="Seeds the A/B/C order per item and reviewer.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("cmp-set-detail", args=[self.pk])

    @property
    def targets_served(self) -> list[targets.Served]:
        """The distinct targets of its systems, in system order (not per system: the names stay blind)."""
        seen = []
        for system in self.systems.select_related("eval_run__protocol_version"):
            served = system.serves
            if served and served not in seen:
                seen.append(served)
        return seen


class ComparisonSystem(models.Model):
    """One system in a set; its name is shown only after a reviewer has voted."""

    class Kind(models.TextChoices):
        EVAL_RUN = "eval_run", "Eval run"
        TEACHER = "teacher", "Teacher labels"
        HUMAN = "human", "Original human commits"

    comparison_set = models.ForeignKey(ComparisonSet, on_delete=models.CASCADE, related_name="systems")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    eval_run = models.ForeignKey(EvalRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    teacher_model = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def serves(self) -> targets.Served | None:
        """An eval run's target; teacher labels by what their frozen outputs list; human commits are files."""
        if self.kind == self.Kind.EVAL_RUN:
            return self.eval_run.serves if self.eval_run_id else None  # the run was deleted
        if self.kind == self.Kind.TEACHER:
            output = self.outputs.exclude(proposal=None).first()
            if output and any("hunks" in c for c in output.proposal.get("commits") or ()):
                return targets.Served(targets.TOOL, "hunk ids", no_protocol="teacher labels")
        return targets.Served(targets.FILES, "file level")


class ComparisonItem(models.Model):
    """One example of a set. The lease keeps two reviewers off it at the same time."""

    comparison_set = models.ForeignKey(ComparisonSet, on_delete=models.CASCADE, related_name="items")
    example = models.ForeignKey("labeling.Example", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    n_votes = models.PositiveIntegerField(default=0)
    leased_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    lease_expires = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        indexes = [models.Index(fields=["comparison_set", "n_votes", "position"], name="cmp_item_next")]

    def __str__(self) -> str:
        return f"Item {self.position} of {self.comparison_set_id}"


class ComparisonOutput(models.Model):
    """A system's output for an item, frozen when the set is built."""

    item = models.ForeignKey(ComparisonItem, on_delete=models.CASCADE, related_name="outputs")
    system = models.ForeignKey(ComparisonSystem, on_delete=models.CASCADE, related_name="outputs")
    proposal = models.JSONField(null=True, blank=True)
    raw = models.TextField(blank=True, help_text="Shown when the output did not parse.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["item", "system"], name="one_output_per_system")]


class Vote(models.Model):
    """One reviewer's scores and preference on one item."""

    class Preference(models.TextChoices):
        SYSTEM = "system", "One output is better"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "All bad"

    item = models.ForeignKey(ComparisonItem, on_delete=models.CASCADE, related_name="votes")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comparison_votes")
    order = models.JSONField(default=list, help_text="System ids in the order shown (A, B, C...).")
    preference = models.CharField(max_length=10, choices=Preference.choices)
    preferred = models.ForeignKey(ComparisonSystem, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    seconds_spent = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["item", "reviewer"], name="one_vote_per_reviewer")]


class Score(models.Model):
    vote = models.ForeignKey(Vote, on_delete=models.CASCADE, related_name="scores")
    system = models.ForeignKey(ComparisonSystem, on_delete=models.CASCADE, related_name="scores")
    criterion = models.CharField(max_length=12, choices=CRITERIA)
    value = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["vote", "system", "criterion"], name="one_score_per_criterion")]


class RecordedSession(models.Model):
    """One git-smart-commit session recorded by the dogfooding proxy (``manage.py record_sessions``).

    ``requests`` and ``responses`` are parallel lists, every exchange of the session in
    order (the tool loop, its summaries and one-shot calls, model and token lookups).
    A finished session becomes an example with the student's final proposal as a
    production label; one that cannot be converted keeps its reason, never dropped.
    """

    class State(models.TextChoices):
        RECORDING = "recording", "Recording"
        CONVERTED = "converted", "Converted"
        UNFINISHED = "unfinished", "Unfinished"
        UNPARSEABLE = "unparseable", "Unparseable"

    key = models.CharField(max_length=64, blank=True, db_index=True,
                           help_text="sha256 of the first system and user messages; blank for orphan requests.")
    upstream = models.CharField(max_length=500)
    repo_name = models.CharField(max_length=300, blank=True)
    model = models.CharField(max_length=200, blank=True)
    api = models.CharField(max_length=10, blank=True, help_text="openai (/v1) or ollama (/api/chat).")
    requests = models.JSONField(default=list)
    responses = models.JSONField(default=list)
    state = models.CharField(max_length=12, choices=State.choices, default=State.RECORDING, db_index=True)
    reason = models.TextField(blank=True, help_text="Why the session was not converted.")
    proposal = models.JSONField(default=dict, blank=True, help_text="Commits, gitignore and skipped hunks, with hunk ids.")
    example = models.ForeignKey("labeling.Example", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    label = models.ForeignKey("labeling.Label", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Recorded session {self.pk} ({self.get_state_display()})"
