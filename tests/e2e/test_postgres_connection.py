"""A web server whose PostgreSQL connections were dropped (a database
restart, a failover, pg_terminate_backend) answers the next webhooks
normally: the health check before each request notices the dead
connection and opens a new one, instead of answering 500."""

import uuid

import pytest

from tests.support import LiveHerald, _postgres_url_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_webhooks_after_the_database_dropped_every_connection_are_accepted(tmp_path):
    import psycopg

    herald = LiveHerald(tmp_path, worker=False).start()
    try:
        herald.add_repo("acme/widgets", "https://example.com/acme/widgets.git")
        # Enough pushes that every gunicorn thread holds a connection.
        for i in range(16):
            r = herald.push_github("acme/widgets", f"{i + 1:040x}", branch=f"b{i}")
            assert r.status_code == 202, r.text
        with psycopg.connect(_postgres_url_for("postgres", options=False), autocommit=True) as admin:
            dropped = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                [herald.pg_db],
            ).fetchone()[0]
        assert dropped >= 1
        answers = [
            herald.push_github("acme/widgets", f"{i + 101:040x}", branch=f"after{i}", delivery=str(uuid.uuid4()))
            for i in range(16)
        ]
        assert [r.status_code for r in answers] == [202] * 16, [r.text for r in answers if r.status_code != 202]
        listing = herald.get_json("/api/repos/acme/widgets/jobs/?per_page=100")
        assert len({j["number"] for j in listing["jobs"]}) == 32
    finally:
        herald.stop()
