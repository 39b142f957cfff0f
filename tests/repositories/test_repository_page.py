import re

import pytest
from django.utils import timezone

from repositories.models import Repository, Secret
from tests.conftest import finished

pytestmark = pytest.mark.django_db


def job_numbers(html):
    return [int(n) for n in re.findall(r'<td><a href="/jobs/\d+/">#(\d+)</a>', html)]


def test_it_lists_jobs_newest_first_25_a_page(client, make_repository, make_job):
    repo = make_repository()
    for _ in range(30):
        make_job(repo)
    html = client.get("/repos/acme/widgets/").content.decode()
    assert job_numbers(html) == list(range(30, 5, -1))
    assert "page 1 of 2" in html
    assert job_numbers(client.get("/repos/acme/widgets/?page=2").content.decode()) == [5, 4, 3, 2, 1]


def test_it_filters_by_branch_event_and_status_across_pages(client, make_repository, make_job):
    repo = make_repository()
    for i in range(80):  # job number i + 1
        make_job(
            repo,
            branch="main" if i % 2 else "dev",
            event="push" if i % 3 else "tag",
            status="failed" if i % 5 == 0 else "success",
        )
    main_ok = [n for n in range(80, 0, -1) if (n - 1) % 2 and (n - 1) % 5]
    html = client.get("/repos/acme/widgets/?branch=main&status=success").content.decode()
    assert job_numbers(html) == main_ok[:25]
    assert "page 1 of 2" in html
    assert "branch=main&amp;status=success&amp;page=2" in html  # filters survive paging
    html = client.get("/repos/acme/widgets/?branch=main&status=success&page=2").content.decode()
    assert job_numbers(html) == main_ok[25:]
    html = client.get("/repos/acme/widgets/?event=tag&status=failed").content.decode()
    assert job_numbers(html) == [n for n in range(80, 0, -1) if (n - 1) % 3 == 0 and (n - 1) % 5 == 0]


def test_an_unknown_filter_value_is_an_error_not_a_crash(client, make_repository, make_job):
    make_job(make_repository())
    r = client.get("/repos/acme/widgets/?status=exploded")
    assert r.status_code == 200
    assert "Select a valid choice" in r.content.decode()


def test_the_branch_summary_shows_the_last_status_of_each_branch(client, make_repository, make_job):
    repo = make_repository()
    make_job(repo, branch="main", **finished(status="failed"))
    make_job(repo, branch="dev", **finished(status="success"))
    make_job(repo, branch="main", **finished(status="success"))
    make_job(repo, branch="dev", **finished(status="errored"))
    html = client.get("/repos/acme/widgets/").content.decode()
    summary = html[html.index('class="branch-list"') :]
    summary = summary[: summary.index("</ul>")]
    items = re.findall(r'data-branch="([^"]+)"><span class="status status-(\w+)"', summary)
    assert items == [("dev", "errored"), ("main", "success")]


def test_the_duration_chart_draws_the_last_50_jobs_as_svg_bars(client, make_repository, make_job):
    repo = make_repository()
    now = timezone.now()
    for i in range(55):
        make_job(
            repo,
            status="success" if i % 2 else "failed",
            started_at=now - timezone.timedelta(seconds=10 + i),
            finished_at=now,
        )
    html = client.get("/repos/acme/widgets/").content.decode()
    chart = html[html.index('<svg class="duration-chart"') :]
    chart = chart[: chart.index("</svg>")]
    bars = re.findall(r'<rect class="bar bar-(\w+)"[^>]*height="([\d.]+)"', chart)
    assert len(bars) == 50
    # Oldest on the left; here each job ran a second longer than the one before.
    heights = [float(h) for _, h in bars]
    assert heights == sorted(heights) and heights[0] < heights[-1]
    assert "<title>#6 success · 15 s" in chart and "<title>#55 failed · 64 s" in chart
    assert "<title>#5 " not in chart  # only the last 50


def test_admins_change_settings_others_may_not(client, users, member, make_repository):
    repo = make_repository("acme/widgets", private=True)
    member(users.admin, repo, "admin")
    member(users.pusher, repo, "push")
    form = {"active": "on", "build_timeout": "15", "max_concurrency": "2"}  # auto-cancel unticked

    client.force_login(users.pusher)
    page = client.get("/repos/acme/widgets/").content.decode()
    assert 'id="settings"' not in page
    assert client.post("/repos/acme/widgets/", form).status_code == 403
    client.force_login(users.outsider)
    assert client.post("/repos/acme/widgets/", form).status_code == 404

    client.force_login(users.admin)
    r = client.post("/repos/acme/widgets/", form)
    assert r.status_code == 302
    repo.refresh_from_db()
    assert (repo.active, repo.build_timeout, repo.auto_cancel, repo.max_concurrency) == (True, 15, False, 2)
    r = client.post("/repos/acme/widgets/", {**form, "build_timeout": "100000"})
    assert r.status_code == 200 and "At most 360 minutes" in r.content.decode()
    assert Repository.objects.get(pk=repo.pk).build_timeout == 15
    assert (
        "This repository is inactive"
        not in client.post("/repos/acme/widgets/", {**form, "active": "", "build_timeout": "0"}).content.decode()
    )  # the page describes the repository as saved, not as the refused form


def test_settings_save_even_when_the_clone_url_is_no_longer_accepted(client, users, member, make_repository, settings):
    repo = make_repository("acme/widgets", clone_url="file:///srv/git/widgets")
    member(users.admin, repo, "admin")
    settings.HERALD_ALLOW_LOCAL_CLONES = False
    client.force_login(users.admin)
    r = client.post("/repos/acme/widgets/", {"active": "on", "build_timeout": "20", "max_concurrency": "0"})
    assert r.status_code == 302 and Repository.objects.get(pk=repo.pk).build_timeout == 20


def test_admins_see_the_webhook_help_and_secret_names_never_values(client, users, member, make_repository):
    repo = make_repository()
    member(users.admin, repo, "admin")
    Secret.objects.create(repository=repo, name="DEPLOY_TOKEN", value="hunter2-value")
    client.force_login(users.admin)
    html = client.get("/repos/acme/widgets/").content.decode()
    assert "http://127.0.0.1:8000/webhooks/github/" in html and "application/json" in html
    assert "DEPLOY_TOKEN" in html and "hunter2-value" not in html
    assert "/badges/acme/widgets.svg?branch=main" in html
    assert 'href="/repos/acme/widgets/deliveries/"' in html


def test_an_unknown_or_private_repository_is_404(client, make_repository):
    make_repository("acme/secret", private=True)
    assert client.get("/repos/acme/secret/").status_code == 404
    assert client.get("/repos/acme/nothing/").status_code == 404
