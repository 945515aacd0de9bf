from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from . import services
from .models import AdapterMerge, TrainingMetric, TrainingRun


class TrainingRunForm(forms.ModelForm):
    class Meta:
        model = TrainingRun
        fields = "__all__"

    def clean(self):
        data = super().clean()
        if self.instance.pk:
            return data
        try:
            if data.get("export"):
                data["data_dir"] = services.export_folder(data["export"])
            elif not (Path(data.get("data_dir") or "") / "train.jsonl").exists():
                raise ValueError("Choose a finished export or a data folder with train.jsonl.")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    form = TrainingRunForm
    list_display = ("id", "name", "base_model", "backend", "precision", "state", "progress_done", "final_loss",
                    "created_at")
    list_filter = ("state", "backend", "precision")
    search_fields = ("name", "base_model")
    raw_id_fields = ("export",)
    readonly_fields = ("state", "output_dir", "estimate", "log_tail", "error", "final_loss", "progress_done",
                       "progress_total", "progress_failed", "status_message", "created_at", "started_at", "finished_at", "heartbeat_at",
                       "worker", "attempts", "cancel_requested", "created_by")
    actions = ["run_again", "cancel_runs"]

    def get_changeform_initial_data(self, request):
        return {"base_model": "Qwen/Qwen3-Coder-30B-A3B-Instruct"}

    def save_model(self, request, obj, form, change):
        """A run added here is launched on the gpu queue like one from the launch page."""
        if change:
            return super().save_model(request, obj, form, change)
        obj.created_by = request.user
        with transaction.atomic():
            obj.save()
            obj.output_dir = str(services.artifacts_root() / f"run-{obj.pk}")
            obj.estimate = services.compute_estimate(obj)
            obj.save(update_fields=["output_dir", "estimate"])
            obj.enqueue()

    @admin.action(description="Run again with the same settings")
    def run_again(self, request, queryset):
        for run in queryset:
            try:
                new = services.copy_run(run, user=request.user)
            except ValueError as exc:
                self.message_user(request, f"{run}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{run} queued again as {new}.", messages.SUCCESS)

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request, queryset):
        for run in queryset:
            run.request_cancel()
        self.message_user(request, f"Cancel requested for {queryset.count()} run(s).")


@admin.register(TrainingMetric)
class TrainingMetricAdmin(admin.ModelAdmin):
    list_display = ("run", "kind", "step", "loss", "eval_loss", "learning_rate", "tokens_per_s")
    list_filter = ("kind",)
    raw_id_fields = ("run",)


@admin.register(AdapterMerge)
class AdapterMergeAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "quant", "ollama_name", "state", "created_at")
    list_filter = ("state",)
    raw_id_fields = ("run",)
    readonly_fields = ("result", "output_dir", "error")
