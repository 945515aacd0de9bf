from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"

    def ready(self) -> None:
        from gsctune.jobs import register_runner

        from .models import EvalRun
        from .runs import run_eval

        register_runner(EvalRun, run_eval)
