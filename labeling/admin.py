from django.contrib import admin

from .models import Example, ImportJob, Label, Review, ReviewItem


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ("key", "repo_url", "n_commits", "n_files", "diff_chars", "imported_at")
    list_filter = ("repo_url", "n_commits")
    search_fields = ("key",)
    readonly_fields = ("imported_at",)


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("id", "example", "source", "model", "noise_injected", "created_at")
    list_filter = ("source", "model", "noise_injected")
    raw_id_fields = ("example", "revision_of")
    search_fields = ("example__key",)


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "original_name", "state", "imported", "already_present", "bad_lines", "created_at")
    list_filter = ("state",)
    readonly_fields = ("created_at", "started_at", "finished_at", "heartbeat_at")

from . import admin_labeling  # noqa: E402,F401  (teachers, prompts, labeling runs)
from . import admin_export  # noqa: E402,F401  (SFT export snapshots)


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("id", "label", "reviewer", "verdict", "seconds_spent", "created_at")
    list_filter = ("verdict", "reviewer")
    raw_id_fields = ("label", "correction")


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    list_display = ("label", "teacher", "prompt", "verdict", "n_findings", "leased_by", "lease_expires")
    list_filter = ("verdict", "teacher")
    raw_id_fields = ("label", "example")


from .models import ProtocolVersion  # noqa: E402  (issue 13: protocol versions, appended)


@admin.register(ProtocolVersion)
class ProtocolVersionAdmin(admin.ModelAdmin):
    """Read-only: a protocol version is made by a capture and never edited."""

    list_display = ("id", "tool_name", "tool_commit", "source", "content_hash", "captured_at", "created_at")
    list_filter = ("source", "tool_name")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


from .models import CaptureJob  # noqa: E402


@admin.register(CaptureJob)
class CaptureJobAdmin(admin.ModelAdmin):
    list_display = ("id", "state", "port", "model_name", "tool_commit", "protocol_version", "new_version", "created_at")
    list_filter = ("state",)
    readonly_fields = ("protocol_version", "new_version", "drifted", "scratch_path", "created_at", "started_at",
                       "finished_at", "heartbeat_at")
