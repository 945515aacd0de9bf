"""PromptVersion.protocol_version: the protocol a hunk-level prompt was made from, an exact link
instead of matching the system prompt's text on every page.

The data step links the hunk-level prompts made before it: a prompt whose system prompt equals a
stored protocol version's exactly gets that version (the latest, where several have the text, as
pages matched before). Backwards it unlinks them all, then the column goes.
"""
import django.db.models.deletion
from django.db import migrations, models


def link_by_system_prompt(apps, schema_editor):
    PromptVersion = apps.get_model("labeling", "PromptVersion")
    ProtocolVersion = apps.get_model("labeling", "ProtocolVersion")
    latest: dict[str, int] = {}
    for pk, text in ProtocolVersion.objects.order_by("id").values_list("id", "system_prompt"):
        latest[text] = pk  # ascending ids: the latest version with this text wins
    prompts = PromptVersion.objects.filter(granularity="hunks", protocol_version__isnull=True)
    for pk, text in prompts.values_list("id", "system_prompt"):
        if text in latest:
            PromptVersion.objects.filter(pk=pk).update(protocol_version_id=latest[text])


def unlink(apps, schema_editor):
    apps.get_model("labeling", "PromptVersion").objects.update(protocol_version=None)


class Migration(migrations.Migration):

    dependencies = [
        ("labeling", "0008_hunk_granularity"),
    ]

    operations = [
        migrations.AddField(
            model_name="promptversion",
            name="protocol_version",
            field=models.ForeignKey(
                blank=True, help_text="The protocol version whose system prompt this hunk-level prompt was made from.",
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="prompt_versions",
                to="labeling.protocolversion"),
        ),
        migrations.RunPython(link_by_system_prompt, unlink),
    ]
