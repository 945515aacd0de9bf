from django.contrib import admin

from .models import ComparisonItem, ComparisonSet, ComparisonSystem, EvalRun, Prediction, Vote


@admin.register(EvalRun)
class EvalRunAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "backend", "model", "state", "progress_done", "progress_failed", "created_at")
    list_filter = ("state", "backend", "prompt_kind")
    exclude = ("example_ids", "summary")


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "example", "json_found", "error_kind", "latency_s")
    list_filter = ("error_kind", "json_found")
    raw_id_fields = ("run", "example", "reference")


class SystemInline(admin.TabularInline):
    model = ComparisonSystem
    extra = 0


@admin.register(ComparisonSet)
class ComparisonSetAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "seed", "created_at")
    inlines = [SystemInline]


@admin.register(ComparisonItem)
class ComparisonItemAdmin(admin.ModelAdmin):
    list_display = ("id", "comparison_set", "position", "n_votes", "leased_by", "lease_expires")
    raw_id_fields = ("example",)


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("id", "item", "reviewer", "preference", "preferred", "created_at")
