import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("builds", "0012_test_reports"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="from_step",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="job",
            name="pipeline_digest",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="job",
            name="retry_of",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="retries",
                to="builds.job",
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="workspace_kept_bytes",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="job",
            name="workspace_kept_on",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="job",
            name="workspace_kept_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
