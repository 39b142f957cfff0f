"""Server time and query count of the dashboard (and a repository page) with
100,000 jobs in the database. Runs Django in-process against its own
database under $HERALD_DATA_DIR (SQLite; PostgreSQL when DATABASE_URL says
so), created once and reused. Prints figures; asserts nothing.

    python bench/dashboard.py [--jobs 100000] [--repos 100] [--runs 15]
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repos", type=int, default=100)
    parser.add_argument("--runs", type=int, default=15)
    args, _ = parser.parse_known_args()

    data = Path(os.environ.get("HERALD_DATA_DIR") or ROOT / "data" / "bench") / "dashboard"
    data.mkdir(parents=True, exist_ok=True)
    os.environ["HERALD_DATA_DIR"] = str(data)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ciproject.settings")
    warnings.filterwarnings("ignore", "No directory at")  # static files are not collected here
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    fill(args.jobs, args.repos)

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from repositories.models import Membership, Repository

    staff, _ = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    member, created = User.objects.get_or_create(username="bench-member")
    if created:
        for repo in Repository.objects.filter(full_name__startswith="bench/")[:10]:
            Membership.objects.create(user=member, repository=repo, permission="push")
    busiest = Repository.objects.get(full_name="bench/r000")
    print(
        f"database: {connection.vendor}, {count_jobs():,} jobs in {Repository.objects.count()} repositories "
        f"({busiest.jobs.count():,} in {busiest.full_name})"
    )

    for label, user, url in (
        ("dashboard, staff (every repository)", staff, "/"),
        ("dashboard, member of 10 private + all public", member, "/"),
        ("dashboard, anonymous", None, "/"),
        (f"repository page ({busiest.full_name})", staff, f"/repos/{busiest.full_name}/"),
        ("repository page, filtered, page 40", staff, f"/repos/{busiest.full_name}/?status=failed&branch=main&page=40"),
    ):
        client = Client()
        if user:
            client.force_login(user)
        client.get(url)  # warm up: connections, templates
        times, queries = [], set()
        for _ in range(args.runs):
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            queries.add(len(ctx.captured_queries))
        print(
            f"{label:<48} median {statistics.median(times):6.1f} ms  max {max(times):6.1f} ms  "
            f"queries {'/'.join(map(str, sorted(queries)))}"
        )


def count_jobs():
    from builds.models import Job

    return Job.objects.count()


def fill(jobs, repos):
    """Repositories with jobs of every status over a few branches; the first
    repository holds half the jobs (a busy monorepo), the rest share the rest."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from builds.models import Job
    from repositories.models import Repository

    if count_jobs() >= jobs:
        return
    start = time.perf_counter()
    Job.objects.all().delete()
    Repository.objects.filter(full_name__startswith="bench/").delete()
    statuses = ["success"] * 6 + ["failed", "errored", "cancelled", "timed_out"]
    now = timezone.now()
    with transaction.atomic():
        repo_rows = Repository.objects.bulk_create(
            Repository(full_name=f"bench/r{i:03d}", clone_url=f"https://example.com/r{i}.git", private=i % 3 == 0)
            for i in range(repos)
        )
        rest, others = jobs - jobs // 2, repos - 1
        shares = [jobs // 2] + [rest // others + (1 if i < rest % others else 0) for i in range(others)]
        rows = []
        for repo, share in zip(repo_rows, shares):
            for n in range(1, share + 1):
                created = now - timedelta(minutes=(share - n) * 7)
                rows.append(
                    Job(
                        repository=repo,
                        number=n,
                        commit=f"{n:040x}",
                        branch=("main", "dev", f"feature/{n % 40}")[n % 3],
                        ref="refs/heads/main",
                        message=f"Change number {n} to the code",
                        author="Bench Mark",
                        status=statuses[n % len(statuses)],
                        created_at=created,
                        started_at=created + timedelta(seconds=5),
                        finished_at=created + timedelta(seconds=65 + n % 300),
                    )
                )
                if len(rows) >= 5000:
                    Job.objects.bulk_create(rows)
                    rows = []
            repo.job_counter = share
        Job.objects.bulk_create(rows)
        Repository.objects.bulk_update(repo_rows, ["job_counter"])
        # A few live ones, as on a real installation.
        for repo in repo_rows[:3]:
            Job.objects.filter(repository=repo, number=repo.job_counter).update(status="running", finished_at=None)
    print(f"(created {count_jobs():,} jobs in {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
