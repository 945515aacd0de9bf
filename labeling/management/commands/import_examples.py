from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gsctune.jobs import JobState, run_in_foreground
from labeling.examples.services import create_import_job


class Command(BaseCommand):
    help = "Import harvested or labeled JSONL files. Bad lines are reported; valid lines are imported."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--queue", action="store_true", help="Hand the import to the worker instead.")

    def handle(self, *args, files, queue, **options):
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise CommandError(f"cannot read: {', '.join(missing)}")
        failed = False
        for path in files:
            job = create_import_job(path.resolve(), path.name, enqueue=queue)
            if queue:
                self.stdout.write(f"queued import {job.pk} of {path}")
                continue
            job = run_in_foreground(job, stream=self.stderr)
            for problem in job.problems:
                self.stdout.write(f"{path}:{problem['line']}: {problem['reason']}")
            if job.bad_lines > len(job.problems):
                self.stdout.write(f"{path}: … and {job.bad_lines - len(job.problems)} more bad lines")
            if job.state != JobState.SUCCEEDED:
                failed = True
                self.stderr.write(f"{path}: import {job.state}: {job.error.splitlines()[0] if job.error else ''}")
            else:
                self.stdout.write(f"{path}: {job.status_message}")
        if failed:
            raise CommandError("some files could not be imported")
