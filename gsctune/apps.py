from django.apps import AppConfig


class GsctuneConfig(AppConfig):
    """Holds the cross-app pieces: the job pattern, its task, shared templates and commands."""

    name = "gsctune"
    verbose_name = "gsctune"

    def ready(self) -> None:
        # Registers the one Celery task (gsctune.run_job) in every process, web or worker.
        from . import tasks  # noqa: F401
