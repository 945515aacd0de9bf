from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"

    def ready(self) -> None:
        from gsctune.jobs import register_runner

        register_runner("evaluation.EvalRun", "evaluation.runs.run_eval")
