"""Run a labeling run from the command line (the same service as the web page)."""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from gsctune.endpoints import validate_base_url
from gsctune.jobs import run_in_foreground
from labeling.models import LabelingRun, PromptVersion, Teacher
from labeling.runs.services import SelectionError, create_run, default_prompt_version, run_summary, teacher_for


class Command(BaseCommand):
    help = ("Label examples with a teacher (or the baseline) over an OpenAI-compatible API. "
            "Runs in the foreground with a progress bar; --queue hands it to the worker.")
    # The labeling hot path: system checks import every app's URLconf and views (scipy, the training stack)
    # and add most of a second to each run; `manage.py check`, migrate and the server still run them.
    requires_system_checks = []

    def add_arguments(self, parser):
        who = parser.add_argument_group("teacher")
        who.add_argument("--teacher", help="Name of a configured teacher (instead of --base-url/--model).")
        who.add_argument("--base-url", help="e.g. http://127.0.0.1:8765/v1")
        who.add_argument("--model", help="Model name the endpoint expects.")
        who.add_argument("--api-key-env", default="", help="Name of the environment variable holding the API key.")
        parser.add_argument("--concurrency", type=int,
                            help="Concurrent requests (default: the teacher's maximum). A teacher made from "
                                 "--base-url/--model takes it as its maximum; a named teacher's maximum caps it.")
        parser.add_argument("--sample", type=int, help="Label a seeded random sample of N examples.")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the sample and of the noise.")
        parser.add_argument("--noise-prob", type=float, default=0.3, help="Probability of injecting junk files.")
        parser.add_argument("--prompt-version", type=int, help="PromptVersion id (default: the shipped prompt).")
        parser.add_argument("--limit", type=int, help="At most N examples.")
        parser.add_argument("--max-diff-chars", type=int, default=60000)
        parser.add_argument("--show-new-content", action="store_true",
                            help="Hunk-level prompts: show the teacher new files' content, which git-smart-commit "
                                 "does not show (the tool-target export then adds the student's read_file turns).")
        parser.add_argument("--resume", type=int, metavar="RUN", help="Resume run RUN (retries its failures).")
        parser.add_argument("--queue", action="store_true", help="Queue on the Celery worker instead.")

    def handle(self, *args, **o):
        if o["resume"]:
            run = LabelingRun.objects.filter(pk=o["resume"]).first()
            if run is None:
                raise CommandError(f"no labeling run {o['resume']}")
            if run.is_active and not run.is_orphaned:
                raise CommandError(f"run {run.pk} is {run.state}; cancel it first or wait")
            if o["queue"]:
                run.resume()
                self.stdout.write(f"run {run.pk} queued again: {run.get_absolute_url()}")
                return
            run.reopen()
        else:
            run = self._create(o)
            if o["queue"]:
                self.stdout.write(f"run {run.pk} queued: {run.get_absolute_url()}")
                return
        run_in_foreground(run, stream=self.stderr._out)
        self.stdout.write(run_summary(run))
        if run.state == "failed":
            raise CommandError(run.error.split("\n")[0])

    def _create(self, o) -> LabelingRun:
        concurrency = o["concurrency"]
        if concurrency is not None and concurrency < 1:
            raise CommandError(f"--concurrency must be at least 1 (got {concurrency})")
        if o["teacher"]:
            teacher = Teacher.objects.filter(name=o["teacher"]).first()
            if teacher is None:
                raise CommandError(f"no teacher named {o['teacher']!r}")
            if concurrency and concurrency > teacher.max_concurrency:
                self.stderr.write(
                    f"--concurrency {concurrency} is capped at {teacher.max_concurrency}, the maximum of teacher "
                    f"{teacher.name!r}; running at {teacher.max_concurrency}. To go higher, raise its max "
                    f"concurrency on the teacher page ({teacher.get_absolute_url()}) or in the admin.")
                concurrency = teacher.max_concurrency
        elif o["base_url"] and o["model"]:
            try:
                validate_base_url(o["base_url"])
                if concurrency is not None:
                    Teacher._meta.get_field("max_concurrency").run_validators(concurrency)
                # The teacher made from flags takes the asked concurrency as its maximum, so it is what runs.
                teacher = teacher_for(o["base_url"], o["model"], o["api_key_env"], max_concurrency=concurrency)
            except ValidationError as exc:
                raise CommandError(f"invalid teacher: {'; '.join(exc.messages)}") from exc
        else:
            raise CommandError("give --teacher NAME or both --base-url and --model")
        if o["prompt_version"]:
            prompt = PromptVersion.objects.filter(pk=o["prompt_version"]).first()
            if prompt is None:
                raise CommandError(f"no prompt version {o['prompt_version']}")
        else:
            prompt = default_prompt_version()
        options = {"noise_probability": o["noise_prob"], "noise_seed": o["seed"], "selection_seed": o["seed"],
                   "limit": o["limit"], "concurrency": concurrency, "max_diff_chars": o["max_diff_chars"],
                   "teacher_sees_new_content": o["show_new_content"]}
        if o["sample"]:
            options.update(selection=LabelingRun.Selection.SAMPLE, sample_size=o["sample"])
        try:
            return create_run(teacher, prompt, enqueue=o["queue"], **options)
        except (SelectionError, ValidationError) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise CommandError(f"invalid run: {'; '.join(messages)}") from exc
