"""git-smart-commit's protocol as versioned data, and the capture job that records it."""
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from gsctune.domain.hunks import TEXTS
from gsctune.domain.protocol import ProtocolSpec, Replies
from gsctune.jobs import Job

from ..protocol.check import RendererCheck, captured_replies, captured_texts, check_version
from ..protocol.layout import content_hash
from ..protocol.scratch import tool_command


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
        return content_hash(self.system_prompt, self.tools, self.user_layout, self.reply_layouts)

    def to_spec_dict(self) -> dict:
        """The protocol as plain data (system prompt, tools, layouts, replies, tool, hash)."""
        return {
            "system_prompt": self.system_prompt, "tools": self.tools, "user_turn": self.user_turn,
            "user_layout": self.user_layout, "replies": self.replies, "reply_layouts": self.reply_layouts,
            "tool_name": self.tool_name, "tool_commit": self.tool_commit, "source": self.source,
            "content_hash": self.content_hash,
        }

    def to_spec(self) -> ProtocolSpec:
        """The protocol the export (and evaluation) renders conversations with.

        The captured system prompt and tools are used as sent. The replies are gsctune's
        renderer, except the finalize rejection for uncovered hunks and the instruction
        closing every finalize rejection, which are the tool's own words where the
        captured rejection reads unambiguously (``check.captured_replies``). The user
        turn is gsctune's renderer with the capture's headings, untracked and binary
        texts and lockfile stat line where each reads unambiguously
        (``check.captured_texts``). ``renderer_check()`` reports where the renderer and
        the capture differ, and which wording is used."""
        captured = self.source == self.Source.CAPTURED
        data = self.to_spec_dict()
        return ProtocolSpec(
            system_prompt=self.system_prompt, tools=self.tools, tool_name=self.tool_name,
            tool_commit=self.tool_commit,
            user_turn=captured_texts(data)[0] if captured else TEXTS,
            replies=captured_replies(data)[0] if captured else Replies(),
            source="captured" if captured else "built-in",
            note="" if captured else "not what the tool sends",
        )

    def renderer_check(self) -> RendererCheck:
        """gsctune's built-in renderer compared with this capture (computed: cheap, and never stale)."""
        return check_version(self.to_spec_dict())

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
        prefix = f"cd {self.scratch_path} && " if self.scratch_path else ""
        return prefix + tool_command(self.api_base, self.model_name)
