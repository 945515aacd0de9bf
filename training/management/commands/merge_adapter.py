"""Merge a run's adapter, convert to GGUF, quantize and write an Ollama Modelfile."""

from django.core.management.base import BaseCommand, CommandError

from gsctune.jobs import JobState, run_in_foreground
from training import services
from training.models import AdapterMerge, TrainingRun


class Command(BaseCommand):
    help = "Merge a training run's adapter into its base model and export GGUF + Modelfile."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--quant", choices=["Q8_0", "Q4_K_M", "none"], default="Q8_0")
        parser.add_argument("--ollama-name", default="", help="Also run `ollama create NAME` when ollama is on PATH")
        parser.add_argument("--queue", action="store_true", help="Queue it for a worker and return")

    def handle(self, *args, **o):
        run = TrainingRun.objects.filter(pk=o["run_id"]).first()
        if run is None:
            raise CommandError(f"No training run with id {o['run_id']}.")
        quant = "" if o["quant"] == "none" else o["quant"]
        if o["queue"]:
            try:
                job = services.launch_merge(run, quant=quant, ollama_name=o["ollama_name"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"Queued merge {job.pk}.")
            return
        if not run.has_adapter:
            raise CommandError(f"Run {run.pk} has no adapter to merge (state {run.state}).")
        job = AdapterMerge.objects.create(run=run, quant=quant, ollama_name=o["ollama_name"].strip())
        job = run_in_foreground(job, stream=self.stderr._out)
        if job.state != JobState.SUCCEEDED:
            raise CommandError(f"Merge {job.pk} {job.state}: {job.error.splitlines()[0] if job.error else ''}")
        for line in job.result.get("log", []):
            self.stdout.write(line)
        for missing in job.result.get("missing", []):
            self.stdout.write(self.style.WARNING(missing))
