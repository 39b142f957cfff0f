import re

import pytest

from tests.conftest import finished

pytestmark = pytest.mark.django_db


def badge(client, url, **headers):
    r = client.get(url, headers=headers)
    body = r.content.decode()
    colour = re.search(r'<rect class="status"[^>]*fill="(#[0-9a-f]{6})"', body)
    text = re.search(r"<title>build: ([^<]+)</title>", body)
    return r, colour and colour.group(1), text and text.group(1)


@pytest.mark.parametrize(
    "status, colour",
    [
        ("success", "#2da44e"),
        ("failed", "#cf222e"),
        ("errored", "#d4a72c"),
        ("timed_out", "#e16f24"),
    ],
)
def test_it_shows_the_latest_finished_build_of_the_branch_in_its_colour(
    client, make_repository, make_job, status, colour
):
    repo = make_repository()
    make_job(repo, branch="main", **finished(status="success" if status != "success" else "failed"))
    make_job(repo, branch="main", **finished(status=status))
    make_job(repo, branch="main", **finished(status="cancelled"))  # says nothing about the code
    make_job(repo, branch="main", status="running")
    make_job(repo, branch="dev", **finished(status="failed"))
    r, fill, text = badge(client, "/badges/acme/widgets.svg?branch=main")
    assert r.status_code == 200 and r["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert (fill, text) == (colour, status)


def test_the_default_branch_is_used_without_one_and_pull_requests_never_count(client, make_repository, make_job):
    repo = make_repository(default_branch="trunk")
    make_job(repo, branch="trunk", **finished(status="failed"))
    make_job(repo, branch="trunk", event="pull_request", pr_number=3, **finished(status="success"))
    assert badge(client, "/badges/acme/widgets.svg")[1:] == ("#cf222e", "failed")
    assert badge(client, "/badges/acme/widgets.svg?branch=nope")[1:] == ("#8c959f", "unknown")


def test_cache_headers_are_short_and_etags_revalidate(client, make_repository, make_job):
    make_job(make_repository(), **finished())
    r, _, _ = badge(client, "/badges/acme/widgets.svg")
    assert r["Cache-Control"] == "public, max-age=30"
    again = client.get("/badges/acme/widgets.svg", headers={"If-None-Match": r["ETag"]})
    assert again.status_code == 304


def test_a_private_repository_badge_needs_access_and_is_never_cached_publicly(
    client, users, member, make_repository, make_job
):
    repo = make_repository(private=True)
    make_job(repo, **finished())
    r, fill, text = badge(client, "/badges/acme/widgets.svg")
    assert r.status_code == 404 and text == "not found" and "no-cache" in r["Cache-Control"]
    member(users.reader, repo, "pull")
    client.force_login(users.reader)
    r, fill, text = badge(client, "/badges/acme/widgets.svg")
    assert (r.status_code, text) == (200, "success")
    assert r["Cache-Control"] == "private, max-age=30"


def test_names_are_escaped_and_nested_groups_work(client, make_repository, make_job):
    make_job(make_repository("group/sub/project", provider="gitlab"), **finished())
    r, fill, text = badge(client, "/badges/group/sub/project.svg")
    assert (r.status_code, text) == (200, "success")
