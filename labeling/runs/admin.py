"""Admin for teachers, prompt versions, labeling runs and their failures (imported by admin.py)."""
from django.contrib import admin

from ..models import LabelFailure, LabelingRun, PromptVersion, Teacher
from .forms import TeacherForm


@admin.register(Teacher)
class TeacherAdmin(admin.ModelAdmin):
    form = TeacherForm  # the same bounds, checks and help as the Teachers page
    list_display = ("name", "is_baseline", "base_url", "model", "api_key_env", "max_concurrency",
                    "price_input_per_million", "price_output_per_million", "updated_at")
    list_filter = ("is_baseline",)
    search_fields = ("name", "model", "base_url")


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "is_default", "created_by", "created_at")
    readonly_fields = ("content_hash", "created_at")

    def get_readonly_fields(self, request, obj=None):
        """Texts, granularity and protocol link of a used version are frozen: save a new version instead."""
        if obj is not None and obj.is_used:
            return (*self.readonly_fields, "system_prompt", "output_format", "sample_output", "granularity",
                    "protocol_version")
        return self.readonly_fields


@admin.register(LabelingRun)
class LabelingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "state", "teacher", "prompt_version", "progress_done", "progress_failed",
                    "progress_total", "prompt_tokens", "completion_tokens", "created_at")
    list_filter = ("state", "teacher")
    readonly_fields = ("selected_ids", "created_at", "started_at", "finished_at", "heartbeat_at", "prompt_tokens",
                       "completion_tokens", "requests", "in_flight", "latency_ms_total", "last_errors")


@admin.register(LabelFailure)
class LabelFailureAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "example", "kind", "tries", "state", "updated_at")
    list_filter = ("kind", "state")
    raw_id_fields = ("example", "run")
