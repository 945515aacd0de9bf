"""Harvested examples, their labels, and the import job that brings them in."""
from django.db import models
from django.urls import reverse

from gsctune import targets
from gsctune.domain.records import HARVEST_FIELDS
from gsctune.jobs import Job


def language_q(language: str, prefix: str = "") -> models.Q:
    """Examples listing this language, in any case: the one language filter (``prefix`` for a relation)."""
    return models.Q(**{f"{prefix}languages_text__icontains": f" {language.strip().lower()} "})


class ExampleQuerySet(models.QuerySet):
    def with_language(self, language: str) -> "ExampleQuerySet":
        return self.filter(language_q(language))

    def facets(self) -> dict[str, list[str]]:
        """The repositories and languages of these examples, for filter menus."""
        texts = self.order_by().values_list("languages_text", flat=True).distinct()
        return {
            "repos": list(self.order_by("repo_url").values_list("repo_url", flat=True).distinct()),
            "languages": sorted({lang for text in texts for lang in (text or "").split()}),
        }


class Example(models.Model):
    """One harvested span of commits, presented as an uncommitted working tree."""

    objects = ExampleQuerySet.as_manager()

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
    # "hunks": each commit lists the tool's hunk ids ("hunks") and hunks left out are in skipped_hunks.
    granularity = models.CharField(max_length=5, default="files", choices=[("files", "Files"), ("hunks", "Hunks")])
    skipped_hunks = models.JSONField(default=list, blank=True, help_text="Hunk ids left uncommitted (junk).")
    usage = models.JSONField(default=dict, blank=True)
    noise_injected = models.BooleanField(default=False)
    injected_files = models.JSONField(default=list, blank=True)
    noise_diff = models.TextField(blank=True)
    revision_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="revisions"
    )
    findings = models.JSONField(default=list, blank=True, help_text="Automatic-check findings.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Labeling-run provenance; empty for imported and human labels.
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

    @property
    def serves(self) -> targets.Served:
        """Its target (hunk ids: git-smart-commit) and the protocol its prompt took the system prompt from;
        a human correction has the prompt of the label it corrects."""
        label = self
        for _ in range(10):  # a correction's chain is short; never loop on bad data
            if label.prompt_version_id or not label.revision_of_id:
                break
            label = label.revision_of
        return targets.for_prompt(self.granularity, label.prompt_version)

    @property
    def saw_new_content(self) -> bool:
        """Whether whoever made the label may have read new files' content, which git-smart-commit
        never shows: a hunk-level teacher run shows the hunk list as the tool does unless the run
        says otherwise, a production label is the student's own answer in the tool; reviewers,
        file-level teachers and imported labels had the whole diff. The tool-target export adds
        the student's read_file turns where this holds."""
        if self.source == self.Source.PRODUCTION:
            return False
        if self.run_id and self.granularity == "hunks":
            return self.run.teacher_sees_new_content
        return True

    def label_object(self) -> dict:
        """The ``label`` object of the labeled JSONL format (DESIGN.md)."""
        obj = {"commits": self.commits, "gitignore": self.gitignore, "model": self.model, "usage": self.usage}
        if self.granularity == "hunks":
            obj["skipped_hunks"] = list(self.skipped_hunks)
        return obj

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
