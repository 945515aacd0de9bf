"""Run an eval in this process and print the metric table (the same run the web page launches)."""
import json
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from evaluation.models import EvalRun
from evaluation.runs import EvalError, circularity, circularity_message, create_eval_run, format_table, resolve_examples
from gsctune.endpoints import validate_base_url
from gsctune.jobs import JobState, run_in_foreground
from labeling.models import PromptVersion, ProtocolVersion
from training.models import TrainingRun


class Command(BaseCommand):
    help = ("Evaluate an OpenAI-compatible endpoint (or an adapter) on an export's validation split or a seeded "
            "sample and print the metrics with 95% intervals.")

    def add_arguments(self, parser):
        parser.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1")
        parser.add_argument("--model", help="model name sent to the endpoint")
        parser.add_argument("--adapter", help="evaluate this PEFT adapter folder locally instead of an endpoint")
        parser.add_argument("--base-model", help="base model folder for --adapter")
        parser.add_argument("--training-run", type=int,
                            help="training run id: link the eval to it; with no endpoint, evaluate its adapter")
        parser.add_argument("--api-key-env", default="", help="NAME of the environment variable with the API key")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--export", type=int, help="SFT export id: use its validation split")
        source.add_argument("--sample", type=int, help="number of labeled examples to sample")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--language", default="", help="only examples touching this language (with --sample)")
        parser.add_argument("--include-unlabeled", action="store_true",
                            help="sample unlabeled examples too (scored against the original commits only)")
        parser.add_argument("--target", choices=[c for c, _ in EvalRun.Target.choices], default="json-files",
                            help="json-files: one JSON answer per example; git-smart-commit: play the tool's "
                                 "tool-call loop against the endpoint and report the protocol metrics")
        parser.add_argument("--protocol-version", type=int,
                            help="captured protocol version id (git-smart-commit; default: the built-in one)")
        parser.add_argument("--protocol-backend", choices=[c for c, _ in EvalRun.ProtocolBackend.choices],
                            default="v1", help="backend whose thresholds and request shape are simulated")
        parser.add_argument("--prompt", choices=[c for c, _ in EvalRun.PromptKind.choices], default="finetune")
        parser.add_argument("--prompt-version", type=int, help="labeling prompt version id (with --prompt labeling)")
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--max-tokens", type=int, default=4096)
        parser.add_argument("--max-diff-chars", type=int, default=None)
        parser.add_argument("--timeout", type=float, default=300.0)
        parser.add_argument("--name", default="")
        parser.add_argument("--json", dest="json_out", help="also write the summary as JSON to this file")

    def handle(self, *args, **opts):
        training_run = None
        if opts["training_run"] is not None:
            training_run = TrainingRun.objects.filter(pk=opts["training_run"]).first()
            if training_run is None:
                raise CommandError(f"training run {opts['training_run']} does not exist")
            if not opts["base_url"] and not opts["adapter"]:
                opts["adapter"], opts["base_model"] = str(training_run.adapter_dir), training_run.base_model
        if opts["adapter"]:
            if not opts["base_model"]:
                raise CommandError("--adapter needs --base-model")
            system = {"backend": EvalRun.Backend.ADAPTER, "adapter_path": opts["adapter"],
                      "base_model_path": opts["base_model"]}
            default_name = f"adapter {Path(opts['adapter']).name}"
        else:
            if not (opts["base_url"] and opts["model"]):
                raise CommandError("give --base-url and --model (or --adapter and --base-model)")
            try:
                base_url = validate_base_url(opts["base_url"])
            except ValidationError as exc:
                raise CommandError(f"--base-url: {exc.messages[0]}") from None
            system = {"backend": EvalRun.Backend.ENDPOINT, "base_url": base_url, "model": opts["model"],
                      "api_key_env": opts["api_key_env"]}
            default_name = opts["model"]
        prompt_version = None
        if opts["prompt_version"] is not None:
            prompt_version = PromptVersion.objects.filter(pk=opts["prompt_version"]).first()
            if prompt_version is None:
                raise CommandError(f"prompt version {opts['prompt_version']} does not exist")
            opts["prompt"] = EvalRun.PromptKind.LABELING
        protocol_version = None
        if opts["protocol_version"] is not None:
            protocol_version = ProtocolVersion.objects.filter(pk=opts["protocol_version"]).first()
            if protocol_version is None:
                raise CommandError(f"protocol version {opts['protocol_version']} does not exist")
        try:
            ids, source = resolve_examples(export_id=opts["export"], sample=opts["sample"], seed=opts["seed"],
                                           language=opts["language"], labeled_only=not opts["include_unlabeled"])
            run = create_eval_run(
                name=opts["name"] or default_name, example_ids=ids, examples_source=source, enqueue=False,
                export_id=opts["export"], prompt_kind=opts["prompt"], concurrency=opts["concurrency"],
                max_tokens=opts["max_tokens"], max_diff_chars=opts["max_diff_chars"], timeout_s=opts["timeout"],
                training_run=training_run, prompt_version=prompt_version, target=opts["target"],
                protocol_version=protocol_version, protocol_backend=opts["protocol_backend"], **system)
        except EvalError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"eval run {run.pk}: {len(ids)} examples ({source})")
        circular = circularity(run)
        if circular:
            self.stderr.write(self.style.WARNING(circularity_message(circular)))
        run = run_in_foreground(run, stream=sys.stderr)
        if run.state != JobState.SUCCEEDED:
            raise CommandError(f"eval run {run.pk} {run.state}: {run.error_reason}")
        self.stdout.write(format_table(run.summary))
        if circular:
            self.stdout.write(f"\nWARNING: {circularity_message(circular)}")
        if opts["json_out"]:
            Path(opts["json_out"]).write_text(json.dumps({"run": run.pk, "name": run.name, **run.summary}, indent=2))
            self.stderr.write(f"summary written to {opts['json_out']}")
