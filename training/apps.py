from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training runs"

    def ready(self) -> None:
        from gsctune.jobs import register_runner

        from .models import AdapterMerge, TrainingRun
        from .services import run_merge, run_training

        register_runner(TrainingRun, run_training)
        register_runner(AdapterMerge, run_merge)
