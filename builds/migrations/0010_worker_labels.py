from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("builds", "0009_schedules"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="runs_on",
            field=models.CharField(blank=True, max_length=1100),
        ),
        migrations.AddField(
            model_name="job",
            name="runs_on_read",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="job",
            name="handbacks",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="worker",
            name="labels",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
