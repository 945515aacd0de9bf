from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training runs"

    def ready(self) -> None:
        from gsctune.jobs import register_runner

        register_runner("training.TrainingRun", "training.services.run_training")
        register_runner("training.AdapterMerge", "training.services.run_merge")
