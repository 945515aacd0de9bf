"""Launch a LoRA training run: in the foreground with a progress bar, or queued for a GPU worker."""

from django.core.management.base import BaseCommand, CommandError

from gsctune.jobs import JobState, run_in_foreground
from labeling.models import SFTExport
from training import rules, services
from training.defaults import DEFAULTS
from training.models import TrainingRun


class Command(BaseCommand):
    help = "Train a LoRA adapter on an SFT export (foreground, or --queue for the gpu worker)."

    def add_arguments(self, parser):
        src = parser.add_mutually_exclusive_group(required=True)
        src.add_argument("--export", type=int, help="SFTExport id")
        src.add_argument("--data-dir", help="A folder with train.jsonl / val.jsonl instead of an export")
        parser.add_argument("--base-model", required=True, help="Hugging Face id or local folder")
        d = DEFAULTS  # TrainConfig's, like the model's and the launch form's
        parser.add_argument("--backend", choices=[c for c, _ in TrainingRun.Backend.choices], default=d["backend"])
        parser.add_argument("--precision", choices=[c for c, _ in TrainingRun.Precision.choices],
                            default=d["precision"])
        for flag, kind in (("max_steps", int), ("epochs", float), ("learning_rate", float), ("batch_size", int),
                           ("grad_accum", int), ("max_length", int), ("lora_r", int), ("lora_alpha", int),
                           ("lora_dropout", float), ("optimizer", str), ("scheduler", str), ("warmup_ratio", float),
                           ("eval_steps", float), ("seed", int)):
            names = ["--lr"] if flag == "learning_rate" else [f"--{flag.replace('_', '-')}"]
            parser.add_argument(*names, type=kind, default=d[flag], dest=flag)
        parser.add_argument("--packing", action="store_true")
        parser.add_argument("--no-assistant-only-loss", action="store_false", dest="assistant_only_loss")
        parser.add_argument("--no-experts", action="store_false", dest="train_experts",
                            help="On MoE models, leave the expert weights without LoRA")
        parser.add_argument("--name", default="")
        parser.add_argument("--queue", action="store_true", help="Queue it for a worker on the gpu queue and return")

    def handle(self, *args, **o):
        export = None
        if o["export"] is not None:
            export = SFTExport.objects.filter(pk=o["export"]).first()
            if export is None:
                raise CommandError(f"No export with id {o['export']}.")
        options = {k: o[k] for k in (
            "backend", "precision", "max_steps", "epochs", "learning_rate", "batch_size", "grad_accum", "max_length",
            "lora_r", "lora_alpha", "lora_dropout", "optimizer", "scheduler", "warmup_ratio", "eval_steps", "seed",
            "packing", "assistant_only_loss", "train_experts", "name")}
        self.refuse_problems(o["base_model"], export, o["data_dir"], options)
        try:
            if o["queue"]:
                run = services.launch_run(base_model=o["base_model"], export=export, data_dir=o["data_dir"],
                                          **options)
                self.stdout.write(f"Queued run {run.pk} on the gpu queue.")
                return
            run = services.create_run(base_model=o["base_model"], export=export, data_dir=o["data_dir"], **options)
        except (ValueError, LookupError) as exc:
            raise CommandError(str(exc)) from exc
        est = run.estimate
        if "total_gb" in est:
            self.stdout.write(f"Estimate: {est['total_gb']} GB on {est['gpu']}, "
                              f"{est['trainable_params']:,} trainable (LoRA) of {est['total_params']:,} base "
                              f"model parameters")
        if est.get("answer_loss"):
            self.stdout.write(f"{est['answer_loss']['message']} ({est['answer_loss']['method']})")
        self.stdout.write(f"Run {run.pk}: training in the foreground (Ctrl-C cancels), output in {run.output_dir}")
        run = run_in_foreground(run, stream=self.stderr._out)
        if run.state != JobState.SUCCEEDED:
            raise CommandError(f"Run {run.pk} {run.state}: {run.error.splitlines()[0] if run.error else ''}")
        self.stdout.write(self.style.SUCCESS(f"Run {run.pk} succeeded: adapter in {run.adapter_dir}"))

    def refuse_problems(self, base_model: str, export, data_dir: str | None, options: dict) -> None:
        """The launch form's rules (training.rules), each naming its command-line flag."""
        try:
            folder = services.export_folder(export) if export is not None else data_dir
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        preview = TrainingRun(base_model=base_model.strip(), export=export, data_dir=folder or "", **options)
        found = rules.launch_problems(preview)
        if found:
            raise CommandError("\n".join(f"--{name.replace('_', '-')}: {message}" for name, message in found))
