"""The schedules on the repository page, their add/edit/delete pages and
the admin (issue 14 §2), through the Django client on real git
repositories."""

from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone

from builds.models import Job, Schedule
from builds.schedules import firing
from tests.builds import schedules_kit
from tests.support import git

pytestmark = [pytest.mark.django_db(transaction=True)]
project = schedules_kit.project  # the fixture

FORM = {"name": "nightly", "cron": "30 2 * * *", "timezone": "Asia/Tokyo", "branch": "", "params": "", "enabled": "on"}


def page(client):
    r = client.get("/repos/acme/widgets/")
    assert r.status_code == 200
    return unescape(r.content.decode())


def test_someone_with_push_rights_adds_edits_and_deletes_a_schedule(project, client):
    client.force_login(project.ada)
    assert 'href="/repos/acme/widgets/schedules/new"' in page(client)
    assert client.get("/repos/acme/widgets/schedules/new").status_code == 200

    r = client.post("/repos/acme/widgets/schedules/new", {**FORM, "params": '{"TARGET": "staging"}'})
    assert (r.status_code, r.url) == (302, "/repos/acme/widgets/#schedules")
    s = Schedule.objects.get()
    assert (s.name, s.cron, s.timezone, s.params, s.enabled, s.created_by) == (
        "nightly",
        "30 2 * * *",
        "Asia/Tokyo",
        {"TARGET": "staging"},
        True,
        project.ada,
    )
    html = page(client)
    local = s.next_run_at.astimezone(s.next_run_local.tzinfo)
    # The next run in the schedule's zone (Tokyo has no DST: JST).
    assert f"{local:%a %Y-%m-%d} 02:30 JST" in html
    assert "Schedule 'nightly' added: first build" in html

    r = client.post(f"/schedules/{s.pk}/", {**FORM, "cron": "0 5 * * *", "branch": "nightly"})
    assert r.status_code == 302
    s.refresh_from_db()
    assert (s.cron, s.branch, s.next_run_local.hour) == ("0 5 * * *", "nightly", 5)

    r = client.post(f"/schedules/{s.pk}/delete")
    assert (r.status_code, r.url) == (302, "/repos/acme/widgets/#schedules")
    assert not Schedule.objects.exists()
    assert "Schedule 'nightly' deleted." in page(client)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"cron": "0 3 * *"}, "a cron expression has exactly 5 fields"),
        ({"cron": "0 25 * * *"}, "'0 25 * * *' does not parse: [0 25 * * *] is not acceptable, out of range"),
        ({"timezone": "Moon/Base"}, "'Moon/Base' is not a time zone: give an IANA name such as Europe/Paris or UTC"),
        ({"branch": "gone"}, "There is no branch 'gone' in acme/widgets"),
        ({"params": '{"TARGET": "moon"}'}, "parameter TARGET must be one of staging, production, not 'moon'"),
        ({"params": "[1, 2]"}, "must be an object of name: value"),
        ({"params": "{nope"}, "Enter a valid JSON."),
    ],
)
def test_bad_input_shows_the_form_again_with_the_reason(project, client, change, message):
    client.force_login(project.ada)
    r = client.post("/repos/acme/widgets/schedules/new", {**FORM, **change})
    assert r.status_code == 400
    assert message in unescape(r.content.decode())
    assert not Schedule.objects.exists()


def test_readers_see_the_next_run_and_the_last_build_but_change_nothing(project, client):
    s = Schedule.objects.create(repository=project.repo, name="hourly", cron="0 * * * *", timezone="Europe/Paris")
    Schedule.objects.filter(pk=s.pk).update(next_run_at=timezone.now() - timedelta(minutes=1))
    firing.fire_due()
    job = Job.objects.get()
    client.force_login(project.rita)
    html = page(client)
    s.refresh_from_db()
    assert "hourly" in html and "0 * * * *" in html and "Europe/Paris" in html
    local = s.next_run_local
    assert f"{local:%a %Y-%m-%d %H}:00 {local.tzname()}" in html
    assert f'href="/jobs/{job.pk}/">#{job.number}</a>' in html
    assert "/schedules/new" not in html and f"/schedules/{s.pk}/" not in html
    assert client.get("/repos/acme/widgets/schedules/new").status_code == 403
    assert client.post(f"/schedules/{s.pk}/delete").status_code == 403
    assert Schedule.objects.exists()


def test_the_page_says_why_a_schedule_made_no_build(project, client):
    s = Schedule.objects.create(repository=project.repo, name="nightly", cron="0 3 * * *", branch="nightly")
    Schedule.objects.filter(pk=s.pk).update(next_run_at=timezone.now() - timedelta(minutes=1))
    git(project.src.path, "branch", "-D", "nightly")
    firing.fire_due()
    client.force_login(project.rita)
    assert "No build: There is no branch 'nightly' in acme/widgets" in page(client)


def test_signed_out_people_are_sent_to_sign_in(project, client):
    r = client.get("/repos/acme/widgets/schedules/new")
    assert r.status_code == 302 and r.url.startswith("/login/")


def test_staff_manage_schedules_in_the_admin_with_the_same_checks(project, client, users):
    users.staff.is_superuser = True
    users.staff.save()
    client.force_login(users.staff)
    data = {"repository": project.repo.pk, **FORM, "cron": "0 3 * * * *"}
    r = client.post("/admin/builds/schedule/add/", data)
    assert r.status_code == 200
    assert "a cron expression has exactly 5 fields" in unescape(r.content.decode())
    r = client.post("/admin/builds/schedule/add/", {**data, "cron": "0 3 * * *", "branch": "gone"})
    assert "There is no branch 'gone' in acme/widgets" in unescape(r.content.decode())
    r = client.post("/admin/builds/schedule/add/", {**data, "cron": "0 3 * * *"})
    assert r.status_code == 302
    s = Schedule.objects.get()
    assert (s.created_by, s.next_run_local.hour) == (users.staff, 3)
    for url in (
        "/admin/builds/schedule/",
        "/admin/builds/schedule/?enabled__exact=1",
        f"/admin/builds/schedule/{s.pk}/change/",
    ):
        assert client.get(url).status_code == 200, url
