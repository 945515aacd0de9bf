from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Examples and labels"

    def ready(self) -> None:
        from gsctune.jobs import register_runner

        register_runner("labeling.ImportJob", "labeling.examples.services.run_import_job")
        register_runner("labeling.LabelingRun", "labeling.runs.services.execute_run")
        register_runner("labeling.SFTExport", "labeling.export.services.run_export_job")
        register_runner("labeling.CaptureJob", "labeling.protocol.run.run_capture_job")
