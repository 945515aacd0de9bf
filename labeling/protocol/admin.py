"""Admin for protocol versions and capture jobs."""
from django.contrib import admin

from ..models import CaptureJob, ProtocolVersion


@admin.register(ProtocolVersion)
class ProtocolVersionAdmin(admin.ModelAdmin):
    """Read-only: a protocol version is made by a capture and never edited."""

    list_display = ("id", "tool_name", "tool_commit", "source", "content_hash", "captured_at", "created_at")
    list_filter = ("source", "tool_name")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(CaptureJob)
class CaptureJobAdmin(admin.ModelAdmin):
    list_display = ("id", "state", "port", "model_name", "tool_commit", "protocol_version", "new_version", "created_at")
    list_filter = ("state",)
    readonly_fields = ("protocol_version", "new_version", "drifted", "scratch_path", "created_at", "started_at",
                       "finished_at", "heartbeat_at")
