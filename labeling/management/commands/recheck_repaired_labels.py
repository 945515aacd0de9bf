from django.core.management.base import BaseCommand

from labeling.export.services import flag_snapshots_made_before_repair
from labeling.review.services import recheck_repaired_labels


class Command(BaseCommand):
    help = ("Re-run the automatic checks of labels changed by a data repair (migration 0004 dropped "
            "template text from corrections' .gitignore), refresh the review rows of the labels they "
            "correct, and note on older export snapshots that they hold the unrepaired labels.")

    def handle(self, *args, **options):
        result = recheck_repaired_labels()
        if not result.labels:
            self.stdout.write("No repaired labels: nothing to re-check.")
            return
        snapshots = flag_snapshots_made_before_repair()
        self.stdout.write(
            f"Re-checked {result.labels} repaired label(s) ({result.findings} finding(s) now); "
            f"refreshed {result.items} review row(s); {snapshots} older export snapshot(s) noted as made "
            "before the repair."
        )
