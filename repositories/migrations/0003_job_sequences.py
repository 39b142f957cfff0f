"""PostgreSQL: one sequence per repository for job numbers (see
Repository.next_job_number); nothing to do on SQLite."""

from django.db import migrations


def create_sequences(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor != "postgresql":
        return
    Repository = apps.get_model("repositories", "Repository")
    with conn.cursor() as cursor:
        for pk, counter in Repository.objects.values_list("pk", "job_counter"):
            cursor.execute(
                "SELECT GREATEST(COALESCE(MAX(number), 0), %s) + 1 FROM builds_job WHERE repository_id = %s",
                [counter, pk],
            )
            start = cursor.fetchone()[0]
            cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS herald_repository_{int(pk)}_jobs START WITH {int(start)}")


def drop_sequences(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor != "postgresql":
        return
    Repository = apps.get_model("repositories", "Repository")
    with conn.cursor() as cursor:
        for pk in Repository.objects.values_list("pk", flat=True):
            cursor.execute(f"DROP SEQUENCE IF EXISTS herald_repository_{int(pk)}_jobs")


class Migration(migrations.Migration):
    dependencies = [
        ("repositories", "0002_forge_accounts_and_commit_statuses"),
        ("builds", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_sequences, drop_sequences)]
