"""Admin for SFT export snapshots (imported by labeling.admin)."""

from django.contrib import admin

from ..models import SFTExport


@admin.register(SFTExport)
class SFTExportAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "state", "train_rows", "val_rows", "folder", "created_by", "created_at")
    list_filter = ("state",)
    search_fields = ("name", "folder")
    readonly_fields = ("created_at", "started_at", "finished_at", "heartbeat_at", "summary", "manifest_sha256")
