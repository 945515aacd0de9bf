"""LabelFailure's two booleans (resolved, pending_retry) become one documented ``state`` field."""
from django.db import migrations, models


def booleans_to_state(apps, schema_editor):
    LabelFailure = apps.get_model("labeling", "LabelFailure")
    LabelFailure.objects.filter(resolved=True).update(state="resolved")
    LabelFailure.objects.filter(resolved=False, pending_retry=True).update(state="retry")


def state_to_booleans(apps, schema_editor):
    LabelFailure = apps.get_model("labeling", "LabelFailure")
    LabelFailure.objects.filter(state="resolved").update(resolved=True, pending_retry=False)
    LabelFailure.objects.filter(state="retry").update(resolved=False, pending_retry=True)


class Migration(migrations.Migration):
    dependencies = [("labeling", "0006_label_production")]

    operations = [
        migrations.AddField(
            model_name="labelfailure",
            name="state",
            field=models.CharField(
                choices=[("open", "Open"), ("retry", "Retry on the next execution"),
                         ("resolved", "Resolved by a later try")],
                db_index=True, default="open", max_length=10,
            ),
        ),
        migrations.RunPython(booleans_to_state, state_to_booleans),
        migrations.RemoveField(model_name="labelfailure", name="pending_retry"),
        migrations.RemoveField(model_name="labelfailure", name="resolved"),
    ]
