"""Review tokens, and the repair of human corrections that stored template text as .gitignore patterns.

The review page used to print ``{{ label.gitignore|join:"…" }}`` split over two lines, which Django
shows as text, so every saved correction kept the two lines of that tag as patterns. The repair is
self-contained (no app imports): it drops patterns that are template text and marks the label.
``manage.py recheck_repaired_labels`` then re-runs their checks and review rows.
"""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

TEMPLATE_MARKERS = ("{{", "}}", "{%", "%}")


def is_template_text(pattern) -> bool:
    return isinstance(pattern, str) and any(marker in pattern for marker in TEMPLATE_MARKERS)


def repair_gitignore(apps, schema_editor):
    Label = apps.get_model("labeling", "Label")
    now = timezone.now()
    for label in Label.objects.filter(source="human").only("id", "gitignore").iterator(chunk_size=500):
        patterns = label.gitignore if isinstance(label.gitignore, list) else []
        junk = [p for p in patterns if is_template_text(p)]
        if not junk:
            continue
        kept = [p for p in patterns if not is_template_text(p)]
        note = f"dropped {len(junk)} .gitignore pattern(s) that were template text: " + ", ".join(
            repr(p) for p in junk
        )
        Label.objects.filter(pk=label.pk).update(gitignore=kept, repaired_at=now, repair_note=note)


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0003_labeling_runs'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='label',
            name='repair_note',
            field=models.TextField(blank=True, help_text='What the repair changed.'),
        ),
        migrations.AddField(
            model_name='label',
            name='repaired_at',
            field=models.DateTimeField(blank=True, help_text='When a data repair changed this label.', null=True),
        ),
        migrations.AddField(
            model_name='review',
            name='token',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddConstraint(
            model_name='review',
            constraint=models.UniqueConstraint(condition=models.Q(('token', ''), _negated=True), fields=('label', 'reviewer', 'token'), name='review_one_per_token'),
        ),
        # Last, after the schema changes (PostgreSQL refuses ALTER TABLE after updates in one transaction).
        migrations.RunPython(repair_gitignore, migrations.RunPython.noop),
    ]
