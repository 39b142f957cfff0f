"""Every webhook looks up the active jobs it supersedes: that lookup reads
the repository's few active jobs of the branch or pull request, never all
of its pushes (SQLite picked job_repo_dedupe, a scan of every push, until
the partial indexes job_active_branch / job_active_pr, and a status bound
as a parameter keeps either database from using a partial index)."""

import pytest
from django.db import connection, transaction

from builds.lifecycle import create_job
from builds.models import Job


@pytest.mark.parametrize(
    "event, fields, index",
    [
        ("push", {"ref": "refs/heads/main", "branch": "main"}, "job_active_branch"),
        ("pull_request", {"ref": "refs/pull/7/head", "pr_number": 7}, "job_active_pr"),
    ],
)
def test_the_supersede_lookup_uses_the_active_jobs_index(make_repository, event, fields, index):
    repo = make_repository()
    # A busy repository: many pushes and pull requests, some still active,
    # with the statistics a running database keeps.
    Job.objects.bulk_create(
        [
            Job(
                repository=repo,
                number=n,
                event="push",
                ref=f"refs/heads/b{n % 40}",
                branch=f"b{n % 40}",
                commit=f"{n:040x}",
                status="queued" if n % 10 == 0 else "success",
            )
            for n in range(1, 400)
        ]
        + [
            Job(
                repository=repo,
                number=n,
                event="pull_request",
                ref=f"refs/pull/{n}/head",
                pr_number=n,
                commit=f"{n:040x}",
                status="queued" if n % 10 == 0 else "success",
            )
            for n in range(400, 800)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE builds_job")
    statements = []

    def capture(execute, sql, params, many, context):
        statements.append((sql, params))  # as sent: parameters bound, not written in
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture), transaction.atomic():
        create_job(repo, event=event, commit="c" * 40, approval=False, **fields)
    sql, params = next((sql, params) for sql, params in statements if "UNION ALL" in sql)
    with connection.cursor() as cursor, transaction.atomic():
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        else:
            # A test table is tiny and PostgreSQL would rather read it whole:
            # ask which index it would use on a real one.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert index in plan, plan
    assert "job_repo_dedupe (repository_id=? AND event=?)" not in plan, plan
