from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Examples and labels"

    def ready(self) -> None:
        from gsctune.jobs import register_runner

        from .models import ImportJob, LabelingRun, SFTExport
        from .examples.services import run_import_job
        from .export.services import run_export_job
        from .runs.services import execute_run

        register_runner(ImportJob, run_import_job)
        register_runner(LabelingRun, execute_run)
        register_runner(SFTExport, run_export_job)
