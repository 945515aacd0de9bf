import json
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gsctune.jobs import run_in_foreground
from labeling.examples.harvest import HarvestError, harvest
from labeling.examples.services import create_import_job


class Command(BaseCommand):
    help = "Harvest examples from a local git repository (read-only) into JSONL, or import them directly."

    def add_arguments(self, parser):
        parser.add_argument("--repo", required=True, type=Path, help="Path to a git checkout.")
        parser.add_argument("--count", type=int, default=100)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--max-commits", type=int, default=5)
        parser.add_argument("--output", type=Path, help="Write JSONL here instead of importing.")

    def handle(self, *args, repo, count, seed, max_commits, output, **options):
        if count < 1 or max_commits < 1:
            raise CommandError("--count and --max-commits must be at least 1")
        target = output or Path(tempfile.mkstemp(prefix="harvest-", suffix=".jsonl")[1])
        written = 0
        try:
            with target.open("w", encoding="utf-8") as out:
                for record in harvest(repo, count=count, seed=seed, max_commits=max_commits):
                    out.write(json.dumps(record, ensure_ascii=True) + "\n")
                    written += 1
        except HarvestError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"harvested {written} example(s) from {repo}")
        if output:
            self.stdout.write(str(output))
            return
        try:
            job = create_import_job(target, f"harvest of {repo}", enqueue=False)
            job = run_in_foreground(job, stream=self.stderr)
            self.stdout.write(job.status_message or job.error)
        finally:
            target.unlink(missing_ok=True)
