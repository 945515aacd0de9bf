from django.apps import AppConfig


class GsctuneConfig(AppConfig):
    """Holds the cross-app pieces: the job pattern, its task, shared templates and commands."""

    name = "gsctune"
    verbose_name = "gsctune"
