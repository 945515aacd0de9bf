"""Serve the rule-based baseline labeler as an OpenAI-compatible endpoint on 127.0.0.1."""
from django.core.management.base import BaseCommand

from gsctune.domain.baseline import BASELINE_MODEL, BaselineServer


class Command(BaseCommand):
    help = "Serve the offline baseline (not a teacher) at http://127.0.0.1:PORT/v1 (chat completions)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--verbose", action="store_true", help="Log every request.")

    def handle(self, *args, port, verbose, **options):
        server = BaselineServer("127.0.0.1", port, verbose=verbose)
        self.stdout.write(f"baseline labeler on {server.base_url} (model {BASELINE_MODEL}); Ctrl-C to stop",
                          ending="\n")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
