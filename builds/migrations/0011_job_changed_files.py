from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("builds", "0010_worker_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="before",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="job",
            name="changed_files",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
