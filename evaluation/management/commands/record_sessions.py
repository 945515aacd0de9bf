"""Record real git-smart-commit sessions through a forwarding proxy: real use becomes review material."""
from django.core.management.base import BaseCommand, CommandError

from evaluation.proxy.forward import Upstream
from evaluation.proxy.run import ProxyPortBusy, serve_recording


class Command(BaseCommand):
    help = ("Serve a proxy on 127.0.0.1 that forwards every request to the student endpoint unchanged "
            "(/v1 and native Ollama's /api routes) and stores each session; a finished session becomes an "
            "example with a production label in the review queue. Stop it with Ctrl-C.")

    def add_arguments(self, parser):
        parser.add_argument("--upstream", required=True,
                            help="The real endpoint: Ollama (http://127.0.0.1:11434) or llama-server (http://127.0.0.1:8080).")
        parser.add_argument("--port", type=int, default=8767, help="Port on 127.0.0.1 (0: any free port).")
        parser.add_argument("--repo-name", default="", help="Repository name stored on the examples.")
        parser.add_argument("--grace", type=float, default=5.0,
                            help="Seconds of quiet after finalize_commits before a session is converted.")
        parser.add_argument("--duration", type=float, default=None, help="Stop after this many seconds.")

    def handle(self, *args, upstream, port, repo_name, grace, duration, **options):
        try:
            Upstream.parse(upstream)
        except ValueError as exc:
            raise CommandError(f"--{exc}") from exc

        def ready(proxy):
            root = proxy.root_url
            self.stdout.write(f"Forwarding {root} -> {proxy.upstream.url}. Point git-smart-commit at it:")
            self.stdout.write(f"  native Ollama API:      git-smart-commit --api-base {root} --model MODEL")
            self.stdout.write(f"  OpenAI-compatible /v1:  git-smart-commit --api-base {root}/v1 --model MODEL")
            self.stdout.write("Ctrl-C stops the proxy and stores what is left.")
            self.stdout.flush()

        def rows(written):
            for row in written:
                if row.state != row.State.RECORDING:
                    detail = f"example {row.example_id}, label {row.label_id}" if row.label_id else row.reason
                    self.stdout.write(f"  session {row.pk}: {row.get_state_display().lower()} ({detail})")

        try:
            serve_recording(upstream, port=port, repo_name=repo_name, grace_s=grace, duration_s=duration,
                            on_ready=ready, on_rows=rows)
        except ProxyPortBusy as exc:
            raise CommandError(f"--port: {exc}") from exc
