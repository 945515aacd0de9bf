"""Capture git-smart-commit's protocol from the user's own tool and store it as a protocol version."""
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from labeling.protocol.run import CapturePortBusy, serve_capture
from labeling.protocol.scratch import CASES, make_scratch_repo, scratch_cases, tool_command
from labeling.protocol.store import CaptureIncomplete, capture_summary, store_capture


class Command(BaseCommand):
    help = ("Serve an OpenAI-compatible endpoint on 127.0.0.1, print the git-smart-commit command to run "
            "against it, record one session and store what the tool sent as a protocol version.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8766, help="Port on 127.0.0.1 (0: any free port).")
        parser.add_argument("--model", default="capture", help="Model name to pass to the tool (default: capture).")
        parser.add_argument("--tool-name", default="git-smart-commit")
        parser.add_argument("--tool-commit", default="", help="The tool's commit or version, as you know it.")
        parser.add_argument("--scratch", metavar="DIR",
                            help="First make a scratch git repository in DIR showing every rendering case.")
        parser.add_argument("--timeout", type=float, default=900.0, help="Seconds to wait for the session.")
        parser.add_argument("--grace", type=float, default=2.0,
                            help="Seconds without requests after the final move before the session counts as over.")

    def handle(self, *args, port, model, tool_name, tool_commit, scratch, timeout, grace, **options):
        prefix = ""
        if scratch:
            try:
                repo = make_scratch_repo(scratch)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            cases = scratch_cases(repo)
            self.stdout.write(f"scratch repository: {repo}")
            for key, label in CASES.items():
                self.stdout.write(f"  [{'x' if cases[key] else ' '}] {label}")
            prefix = f"cd {repo} && "

        def ready(server):
            self.stdout.write("Run this in a scratch repository with changes (--dry-run still unstages staged changes):")
            self.stdout.write(f"  {prefix}{tool_command(server.api_base, model)}")
            self.stdout.write(f"waiting up to {timeout:.0f} s for the tool …")
            self.stdout.flush()

        def logged(entry):
            self.stdout.write(f"  {entry['method']} {entry['path']} -> {entry['status']}"
                              + (f" ({entry['note']})" if entry.get("note") else ""))

        try:
            result, finished = serve_capture(port=port, model=model, timeout_s=timeout, grace_s=grace,
                                             on_ready=ready, on_request=logged)
        except CapturePortBusy as exc:
            raise CommandError(f"--port: {exc}") from exc
        except KeyboardInterrupt:
            raise CommandError("Interrupted before the session ended: nothing stored.") from None
        if not finished and result["first_request"]:
            self.stdout.write(self.style.WARNING(
                "The session did not reach an accepted finalize_commits; storing what was captured."))
        try:
            version, created, diff = store_capture(result, tool_name=tool_name, tool_commit=tool_commit)
        except CaptureIncomplete as exc:
            raise CommandError(str(exc)) from exc
        if diff:
            self.stdout.write(self.style.WARNING("The tool's protocol differs from the latest stored version:"))
            self.stdout.write(diff)
        self.stdout.write(("Stored new " if created else "Identical to stored ") + capture_summary(version))
        self.stdout.write(f"page: {reverse('protocol-detail', args=[version.pk])}")
