from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gsctune.jobs import JobState, run_in_foreground
from labeling.export.services import create_export, default_target, summary_line
from labeling.export.snapshot import BUILTIN_PROTOCOL, OWN_TEXT, TARGETS, ExportOptions


class Command(BaseCommand):
    help = ("Export reviewed labels as SFT train/val JSONL with a manifest (a snapshot). "
            "Prints the snapshot's id on stdout; progress and the summary go to stderr.")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="Snapshot folder (created).")
        parser.add_argument("--name", default="")
        parser.add_argument("--include-unreviewed", action="store_true")
        parser.add_argument("--no-accepted", action="store_true", help="Leave accepted labels out.")
        parser.add_argument("--no-corrected", action="store_true", help="Leave corrected labels out.")
        parser.add_argument("--teacher", action="append", default=[], help="Only this teacher (repeatable).")
        parser.add_argument("--prompt-version", action="append", default=[], help="Only this prompt version.")
        parser.add_argument("--exclude-finding", action="append", default=[],
                            help="Leave out labels with this check finding ('*': any).")
        parser.add_argument("--repo", action="append", default=[], help="Only this repository (repeatable).")
        parser.add_argument("--language", action="append", default=[], help="Only this language (repeatable).")
        parser.add_argument("--weight", action="append", default=[], metavar="VERDICT=W",
                            help="Oversampling weight, e.g. corrected=2 accepted=1 unreviewed=0.5.")
        parser.add_argument("--val-fraction", type=float, default=0.1)
        parser.add_argument("--max-val-fraction", type=float, default=None)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--held-out", action="append", default=[], help="Repository forced into validation.")
        parser.add_argument("--augment", type=int, default=0, help="Noisy copies per train row.")
        parser.add_argument("--prompt", choices=["labeling", "short"], default="labeling")
        parser.add_argument("--max-diff-chars", type=int, default=24000)
        parser.add_argument("--tokenizer", default=None, help="Local tokenizer folder (truncate by tokens).")
        parser.add_argument("--max-diff-tokens", type=int, default=None)
        parser.add_argument("--max-total", type=int, default=None,
                            help="Whole-conversation budget; longer rows are reported and left out.")
        parser.add_argument("--target", choices=TARGETS, default=None,
                            help="Default: git-smart-commit once a protocol version is captured, else json-files.")
        parser.add_argument("--protocol-version", dest="protocol", default="",
                            help=f"git-smart-commit: a protocol version id (default: the latest captured), "
                                 f"or {BUILTIN_PROTOCOL!r} for gsctune's own (not what the tool sends).")
        chosen = parser.add_mutually_exclusive_group()
        chosen.add_argument("--system-prompt-from", default="", metavar="PROMPT_VERSION",
                            help="git-smart-commit: train under this prompt version's system prompt instead of "
                                 "the protocol's (flagged in the manifest: differs from what the tool sends).")
        chosen.add_argument("--system-prompt-file", default=None, metavar="PATH",
                            help="git-smart-commit: train under this file's text as the system prompt (flagged "
                                 "the same way).")
        parser.add_argument("--no-read-new-files", action="store_true",
                            help="Add read_file turns only to labels whose maker may have read new files' "
                                 "content; none to labels of runs that showed the teacher what the tool shows.")
        parser.add_argument("--keep-new-content", action="store_true",
                            help="Show new files' content in the user turn (then no read_file turn is needed).")
        parser.add_argument("--queue", action="store_true", help="Hand the export to the worker instead.")

    def handle(self, *args, **o):
        weights = {}
        for item in o["weight"]:
            verdict, _, value = item.partition("=")
            try:
                weights[verdict.strip()] = float(value)
            except ValueError:
                raise CommandError(f"--weight {item!r}: expected VERDICT=NUMBER") from None
        chosen, own_text = o["system_prompt_from"], ""
        if o["system_prompt_file"] is not None:
            try:
                chosen, own_text = OWN_TEXT, Path(o["system_prompt_file"]).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"--system-prompt-file {o['system_prompt_file']}: {exc}") from None
        try:
            opts = ExportOptions(
                include_accepted=not o["no_accepted"], include_corrected=not o["no_corrected"],
                include_unreviewed=o["include_unreviewed"], teachers=o["teacher"],
                prompt_versions=o["prompt_version"], exclude_findings=o["exclude_finding"],
                repositories=o["repo"], languages=o["language"], weights=weights,
                val_fraction=o["val_fraction"], max_val_fraction=o["max_val_fraction"], seed=o["seed"],
                held_out=o["held_out"], augment=o["augment"], prompt=o["prompt"],
                max_diff_chars=o["max_diff_chars"], tokenizer=o["tokenizer"],
                max_diff_tokens=o["max_diff_tokens"], max_total=o["max_total"],
                target=o["target"] or default_target(), protocol_version=o["protocol"],
                system_prompt_from=chosen, system_prompt_text=own_text,
                read_new_files=not o["no_read_new_files"], keep_new_content=o["keep_new_content"],
            )
        except ValueError as exc:
            raise CommandError(_flagged(str(exc), o["system_prompt_file"] is not None)) from None
        if opts.tokenizer and not Path(opts.tokenizer).is_dir():
            raise CommandError(f"--tokenizer {opts.tokenizer}: no such folder (a local tokenizer is needed, "
                               "nothing is downloaded)")
        try:
            job = create_export(opts, name=o["name"], folder=o["out"], enqueue=o["queue"])
        except ValueError as exc:
            raise CommandError(_flagged(str(exc), o["system_prompt_file"] is not None)) from None
        if not o["queue"]:
            job = run_in_foreground(job, stream=self.stderr)
            if job.state != JobState.SUCCEEDED:
                raise CommandError(f"export {job.pk} {job.state}: {job.error.splitlines()[0] if job.error else ''}")
            self.stderr.write(f"export {job.pk} in {job.folder}: {summary_line(job.summary)}")
            for lang, why in job.summary["split"]["languages_not_in_val"].items():
                self.stderr.write(f"  {lang} not in validation: {why}")
            for item in job.summary["over_budget"]:
                self.stderr.write(f"  over budget: {item['key']} ({item['length']} > {item['budget']} {item['unit']})")
        self.stdout.write(str(job.pk))


def _flagged(message: str, from_file: bool) -> str:
    """An options error that names the chosen system prompt's option by the flag that was given."""
    flags = {"system_prompt_from": "--system-prompt-file" if from_file else "--system-prompt-from",
             "system_prompt_text": "--system-prompt-file"}
    for name, flag in flags.items():
        if message.startswith(name):
            return flag + message[len(name):]
    return message
