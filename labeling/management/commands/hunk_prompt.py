"""Make a hunk-level prompt version from a captured protocol (the protocol page's one click)."""
from django.core.management.base import BaseCommand, CommandError

from labeling.models import ProtocolVersion
from labeling.runs.services import hunk_prompt_from_protocol


class Command(BaseCommand):
    help = ("Make a hunk-level prompt version from a protocol version: the tool's own system prompt plus "
            "gsctune's hunk answer format. Prints the prompt version id for `label --prompt-version`.")

    def add_arguments(self, parser):
        parser.add_argument("--protocol", type=int, help="ProtocolVersion id (default: the latest captured one).")

    def handle(self, *args, protocol, **options):
        versions = ProtocolVersion.objects.all()
        if protocol is not None:
            version = versions.filter(pk=protocol).first()
        else:
            version = versions.exclude(source=ProtocolVersion.Source.BUILTIN).order_by("-pk").first()
        if version is None:
            raise CommandError(f"no protocol version {protocol}" if protocol is not None
                               else "no captured protocol version: run `manage.py capture_protocol` first")
        prompt, created = hunk_prompt_from_protocol(version)
        link = (f"from protocol version {prompt.protocol_version_id}" if prompt.protocol_version_id
                else "with the same texts, made by hand and already used (not linked)")
        self.stdout.write(("Made" if created else "Already made:") + f" hunk-level prompt version {prompt.pk} {link}")
