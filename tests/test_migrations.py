"""Every model change has its migration: a missing one would leave an
upgraded installation's database behind its code (and `migrate` warning)."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as e:
        pytest.fail(f"makemigrations --check found changes without a migration (exit {e.code}):\n{out.getvalue()}")
