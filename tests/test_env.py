import pytest
from django.core.exceptions import ImproperlyConfigured

from ciproject.env import database_from_url, envbool, envint


def test_it_reads_sqlite_urls(tmp_path):
    assert database_from_url("sqlite:////tmp/x.db", tmp_path)["NAME"] == "/tmp/x.db"
    assert database_from_url("sqlite:///data/x.db", tmp_path)["NAME"] == str(tmp_path / "data/x.db")
    opts = database_from_url("sqlite:////tmp/x.db", tmp_path)["OPTIONS"]
    assert "journal_mode=WAL" in opts["init_command"] and opts["transaction_mode"] == "IMMEDIATE"


def test_it_reads_postgres_urls(tmp_path):
    db = database_from_url("postgres://herald:p%40ss@127.0.0.1:5433/herald", tmp_path)
    assert (db["ENGINE"], db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "django.db.backends.postgresql",
        "herald",
        "herald",
        "p@ss",
        "127.0.0.1",
        "5433",
    )


def test_postgres_connections_prepare_statements_unless_told_not_to(tmp_path):
    opts = database_from_url("postgres://h@db/herald", tmp_path)["OPTIONS"]
    assert opts == {"server_side_binding": True, "prepare_threshold": 5, "connect_timeout": "3"}
    opts = database_from_url("postgres://h@db/herald?prepare_threshold=none&server_side_binding=false", tmp_path)
    assert opts["OPTIONS"] == {"server_side_binding": False, "prepare_threshold": None, "connect_timeout": "3"}
    with pytest.raises(ImproperlyConfigured, match="prepare_threshold"):
        database_from_url("postgres://h@db/herald?prepare_threshold=often", tmp_path)


def test_it_refuses_unknown_schemes(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="mysql"):
        database_from_url("mysql://x/y", tmp_path)


def test_typed_helpers_fail_with_the_variable_name(monkeypatch):
    monkeypatch.setenv("HERALD_X", "maybe")
    with pytest.raises(ImproperlyConfigured, match="HERALD_X"):
        envbool("HERALD_X", False)
    monkeypatch.setenv("HERALD_N", "ten")
    with pytest.raises(ImproperlyConfigured, match="HERALD_N"):
        envint("HERALD_N", 1)
