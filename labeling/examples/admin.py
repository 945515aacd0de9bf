from django.contrib import admin

from ..labels import store_label
from ..models import Example, ImportJob, Label


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

    def save_model(self, request, obj, form, change):
        """Through the one label writer, so an edited label is checked and queued again."""
        store_label(obj)


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "original_name", "state", "imported", "already_present", "bad_lines", "created_at")
    list_filter = ("state",)
    readonly_fields = ("created_at", "started_at", "finished_at", "heartbeat_at")
