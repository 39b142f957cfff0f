import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from builds.models import Job, Worker
from tests.conftest import finished

pytestmark = pytest.mark.django_db


def test_it_shows_each_repository_with_its_latest_job(client, make_repository, make_job):
    widgets = make_repository("acme/widgets")
    gadgets = make_repository("acme/gadgets")
    make_job(widgets, **finished(status="failed"))
    make_job(widgets, **finished(), branch="feature/x", message="Add the frobnicator")
    make_job(gadgets, status="running", started_at=timezone.now())
    html = client.get("/").content.decode()
    card = html[html.index('data-repo="acme/widgets"') :]
    card = card[: card.index("</li>")]
    assert "#2" in card and "feature/x" in card and "Add the frobnicator" in card and "success" in card
    assert "42 s" in card  # duration
    assert html.index('data-repo="acme/gadgets"') < html.index('data-repo="acme/widgets"')  # most recent first


def test_it_counts_running_and_queued_and_shows_workers(client, make_repository, make_job):
    repo = make_repository()
    make_job(repo, status="running", started_at=timezone.now(), worker="box-1")
    make_job(repo)
    make_job(repo)
    Worker.objects.create(host="box-1", slots=2)
    html = client.get("/").content.decode()
    assert "<b>1</b> running" in html and "<b>2</b> queued" in html
    assert "box-1 · 1/2 busy" in html


def test_it_says_when_no_worker_is_online(client, make_repository):
    make_repository()
    Worker.objects.create(host="old-box", last_seen=timezone.now() - timezone.timedelta(hours=3))
    html = client.get("/").content.decode()
    assert "No worker online" in html and re.search(r"old-box last seen <time [^>]+>3\xa0hours ago</time>", html)


def test_private_repositories_show_only_to_their_members(client, users, member, make_repository, make_job):
    secret = make_repository("acme/secret", private=True)
    make_job(secret, message="classified change")
    make_repository("acme/public")
    html = client.get("/").content.decode()
    assert "acme/public" in html and "acme/secret" not in html and "classified" not in html
    member(users.reader, secret, "pull")
    client.force_login(users.reader)
    html = client.get("/").content.decode()
    assert "acme/secret" in html and "classified change" in html
    client.force_login(users.outsider)
    assert "acme/secret" not in client.get("/").content.decode()


def test_anonymous_visitors_are_sent_to_sign_in_when_anonymous_read_is_off(client, settings, make_repository):
    settings.HERALD_ANONYMOUS_READ = False
    make_repository("acme/public")
    r = client.get("/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert client.get("/repos/acme/public/").status_code == 404


def _bulk_jobs(repos, per_repo):
    now = timezone.now()
    rows = []
    for repo in repos:
        for n in range(1, per_repo + 1):
            rows.append(
                Job(
                    repository=repo,
                    number=n,
                    commit=f"{n:040x}",
                    branch=f"b{n % 3}",
                    status="success" if n % 4 else "failed",
                    started_at=now,
                    finished_at=now,
                )
            )
    Job.objects.bulk_create(rows)


@pytest.mark.parametrize("as_staff", [False, True])
def test_the_dashboard_makes_the_same_number_of_queries_for_10_or_100_jobs(
    client, users, member, make_repository, as_staff
):
    repos = [make_repository(f"acme/r{i}") for i in range(5)]
    user = users.staff if as_staff else users.reader
    member(users.reader, repos[0], "pull")
    client.force_login(user)
    Worker.objects.create(host="box-1", slots=2)
    counts = []
    for per_repo in (2, 20):  # 10, then 100 jobs
        Job.objects.all().delete()
        _bulk_jobs(repos, per_repo)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 10
