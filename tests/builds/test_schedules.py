"""Schedules (issue 14 §2): the cron expression and the time zone, the
next run in the schedule's zone, firing (catch-up, two workers at once, a
branch or parameters gone) against real git repositories. The API and the
pages: test_schedules_api.py, test_schedules_pages.py; a real Herald firing
one: tests/e2e/test_schedules_e2e.py."""

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule as QSchedule

from builds.models import Job, Schedule
from builds.pipeline import parse_herald, parse_yaml
from builds.schedules import firing
from builds.schedules.cron import check_cron, check_timezone, next_time
from tests.builds import schedules_kit
from tests.builds.schedules_kit import PIPELINE
from tests.support import git

pytestmark = [pytest.mark.django_db(transaction=True)]
project = schedules_kit.project  # the fixture


# --- the expression and the zone ---------------------------------------------------


@pytest.mark.parametrize(
    "expression, reason",
    [
        ("61 * * * *", "'61 * * * *' does not parse: [61 * * * *] is not acceptable, out of range"),
        ("*/0 * * * *", "'*/0 * * * *' does not parse: [*/0 * * * *] step '0' in field 0 is not acceptable"),
        ("0 0 * * 8", "'0 0 * * 8' does not parse: [0 0 * * 8] is not acceptable, out of range"),
        (
            "0 3 * * * *",
            "a cron expression has exactly 5 fields (minute hour day-of-month month day-of-week), '0 3 * * * *' has 6",
        ),
        (
            "* * * *",
            "a cron expression has exactly 5 fields (minute hour day-of-month month day-of-week), '* * * *' has 4",
        ),
        (
            "@daily",
            "a cron expression has exactly 5 fields (minute hour day-of-month month day-of-week), '@daily' has 1",
        ),
        ("", "a cron expression has exactly 5 fields (minute hour day-of-month month day-of-week), '' has 0"),
        ("H 3 * * *", "'H 3 * * *': H and R (hashed and random times) are not standard cron"),
        ("0 R * * *", "'0 R * * *': H and R (hashed and random times) are not standard cron"),
        ("0 0 31 2 *", "'0 0 31 2 *' matches no date (such as 31 February)"),
        ("0 3 * * mon\x00", "a cron expression is plain text: digits, names, * , - / ? L W #"),
        ("0 " * 60, "a cron expression is at most 100 characters"),
    ],
)
def test_it_refuses_an_expression_with_the_reason(expression, reason):
    with pytest.raises(ValidationError) as e:
        check_cron(expression)
    assert e.value.messages == [reason]


@pytest.mark.parametrize(
    "expression", ["0 3 * * *", "*/15 9-17 * * mon-fri", "0 0 1,15 * *", "0 4 L * *", "30 2 * mar thu"]
)
def test_it_takes_standard_expressions(expression):
    check_cron(expression)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../../etc/passwd", "/etc/localtime", "", "europe/paris"])
def test_it_refuses_a_zone_zoneinfo_does_not_know(zone):
    with pytest.raises(ValidationError) as e:
        check_timezone(zone)
    assert e.value.messages == [f"{zone!r} is not a time zone: give an IANA name such as Europe/Paris or UTC"]


def test_the_next_run_is_in_the_schedules_zone_across_daylight_saving_time():
    at = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    # Weekdays at 09:00 in New York, asked on a Saturday: Monday 09:00 EST.
    monday = next_time("0 9 * * mon-fri", "America/New_York", at(2026, 11, 28, 16, 0))
    assert (monday.isoformat(), monday.astimezone(UTC)) == ("2026-11-30T09:00:00-05:00", at(2026, 11, 30, 14, 0))
    # The same schedule in July is an hour earlier in UTC (EDT).
    assert next_time("0 9 * * mon-fri", "America/New_York", at(2026, 7, 4, 0, 0)).astimezone(UTC) == at(
        2026, 7, 6, 13, 0
    )
    # Paris, spring forward (29 March 2026, 02:00 → 03:00): 02:30 does not exist, it runs at 03:00.
    spring = next_time("30 2 * * *", "Europe/Paris", at(2026, 3, 28, 12, 0))
    assert spring.isoformat() == "2026-03-29T03:00:00+02:00"
    assert next_time("30 2 * * *", "Europe/Paris", spring).isoformat() == "2026-03-30T02:30:00+02:00"
    # Fall back (25 October 2026, 03:00 → 02:00): 02:30 comes twice, runs once.
    autumn = next_time("30 2 * * *", "Europe/Paris", at(2026, 10, 24, 12, 0))
    assert autumn.isoformat() == "2026-10-25T02:30:00+02:00"
    assert next_time("30 2 * * *", "Europe/Paris", autumn).isoformat() == "2026-10-26T02:30:00+01:00"
    # An hourly schedule runs in both passes of the repeated hour: they are two hours.
    hourly = next_time("0 * * * *", "Europe/Paris", at(2026, 10, 24, 23, 30))
    assert [hourly.isoformat(), next_time("0 * * * *", "Europe/Paris", hourly).isoformat()] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]


# --- the model ------------------------------------------------------------------------


def schedule(project, **kw):
    kw.setdefault("name", "nightly")
    kw.setdefault("cron", "0 3 * * *")
    return Schedule.objects.create(repository=project.repo, created_by=project.ada, **kw)


def test_a_new_schedule_waits_for_its_next_time_in_its_zone(project):
    before = timezone.now()
    s = schedule(project, cron="15 4 * * *", timezone="Asia/Tokyo")
    assert s.next_run_at == next_time("15 4 * * *", "Asia/Tokyo", before) > before
    local = s.next_run_local
    assert (local.hour, local.minute, local.utcoffset()) == (4, 15, timedelta(hours=9))
    assert firing.fire_due() == [] and not Job.objects.exists()


def test_an_edit_of_the_timing_counts_from_now_and_other_edits_keep_the_due_time(project):
    s = schedule(project)
    past = timezone.now() - timedelta(minutes=5)
    Schedule.objects.filter(pk=s.pk).update(next_run_at=past)
    s = Schedule.objects.get(pk=s.pk)
    s.name, s.params = "renamed", {"TARGET": "staging"}
    s.save()
    assert Schedule.objects.get(pk=s.pk).next_run_at == past  # still due
    s.enabled = False
    s.save()
    assert Schedule.objects.get(pk=s.pk).next_run_at is None
    assert firing.fire_due() == [] and not Job.objects.exists()
    s.enabled = True
    s.save()  # back on: its next time from now, not the one it missed while off
    assert Schedule.objects.get(pk=s.pk).next_run_at > timezone.now()
    s.cron = "*/5 * * * *"
    s.save()
    assert Schedule.objects.get(pk=s.pk).next_run_at == next_time("*/5 * * * *", "UTC", timezone.now())


# --- firing ---------------------------------------------------------------------------


def due(s, ago):
    """Make `s` due since `ago`, as if the server had been down since."""
    Schedule.objects.filter(pk=s.pk).update(next_run_at=timezone.now() - ago, last_run_at=timezone.now() - ago)
    return Schedule.objects.get(pk=s.pk)


def test_it_starts_a_cron_build_of_the_branch_with_the_parameters(project):
    s = due(schedule(project, branch="nightly", params={"TARGET": "production"}), timedelta(seconds=30))
    [line] = firing.fire_due()
    [job] = Job.objects.all()
    assert line == "acme/widgets: nightly: #1"
    assert (job.event, job.branch, job.ref, job.commit) == ("cron", "nightly", "refs/heads/nightly", project.nightly)
    assert job.commit == git(project.src.path, "ls-remote", project.src.url, "refs/heads/nightly").split()[0]
    assert (job.triggered_by, job.message, job.status) == ("schedule: nightly", "Nightly work", "queued")
    assert job.params == {"TARGET": "production", "DRY_RUN": True}  # the default filled in
    s.refresh_from_db()
    assert (s.last_job, s.last_error) == (job, "")
    assert s.next_run_at == next_time("0 3 * * *", "UTC", s.last_run_at) > timezone.now()


def test_a_server_down_for_three_days_runs_an_hourly_schedule_once(project):
    s = due(schedule(project, cron="0 * * * *"), timedelta(days=3))
    now = timezone.now()
    assert len(firing.fire_due(now)) == 1
    assert Job.objects.count() == 1  # one build, not 72
    s.refresh_from_db()
    assert s.last_run_at == now and s.next_run_at == next_time("0 * * * *", "UTC", now)
    assert firing.fire_due(now + timedelta(seconds=1)) == [] and Job.objects.count() == 1
    # And it goes on at its next time.
    assert len(firing.fire_due(s.next_run_at + timedelta(seconds=1))) == 1
    assert Job.objects.count() == 2


def test_two_workers_firing_the_same_schedule_make_one_build(project):
    s = due(schedule(project), timedelta(minutes=1))
    # Both read the schedule, due, before either claims it.
    first, second = Schedule.objects.get(pk=s.pk), Schedule.objects.get(pk=s.pk)
    assert firing.fire(first) == "acme/widgets: nightly: #1"
    assert firing.fire(second) == "acme/widgets: nightly: already taken"
    assert Job.objects.count() == 1


def test_two_workers_at_the_same_moment_in_threads_make_one_build(project):
    s = due(schedule(project), timedelta(minutes=1))
    read = threading.Barrier(2)
    results = []

    def worker():
        try:
            mine = Schedule.objects.select_related("repository").get(pk=s.pk)
            read.wait(10)
            results.append(firing.fire(mine))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["acme/widgets: nightly: #1", "acme/widgets: nightly: already taken"]
    assert Job.objects.count() == 1


def test_an_edit_saved_after_a_worker_claimed_does_not_make_it_due_again(project):
    s = due(schedule(project), timedelta(minutes=1))
    edited = Schedule.objects.get(pk=s.pk)  # the form read it, due
    assert len(firing.fire_due()) == 1
    edited.params = {"TARGET": "staging"}
    edited.save()
    assert Schedule.objects.get(pk=s.pk).next_run_at > timezone.now()
    assert firing.fire_due() == [] and Job.objects.count() == 1


def test_a_branch_that_is_gone_makes_no_build_and_the_schedule_says_why(project, caplog):
    gone = due(schedule(project, name="gone", branch="nightly"), timedelta(minutes=2))
    due(schedule(project, name="fine"), timedelta(minutes=1))
    git(project.src.path, "branch", "-D", "nightly")
    with caplog.at_level(logging.WARNING, logger="builds.schedules.firing"):
        lines = firing.fire_due()
    assert lines == [
        "acme/widgets: gone: no build: There is no branch 'nightly' in acme/widgets",
        "acme/widgets: fine: #1",
    ]
    gone.refresh_from_db()
    assert (gone.last_job, gone.last_error) == (None, "There is no branch 'nightly' in acme/widgets")
    assert gone.next_run_at > timezone.now()  # not retried every minute
    assert "Schedule acme/widgets: gone" in caplog.text and "There is no branch 'nightly'" in caplog.text
    assert [j.branch for j in Job.objects.all()] == ["main"]
    # Once it builds again, the reason goes.
    git(project.src.path, "branch", "nightly")
    gone = due(gone, timedelta(minutes=1))
    firing.fire_due()
    gone.refresh_from_db()
    assert gone.last_error == "" and gone.last_job.branch == "nightly"


def test_parameters_the_pipeline_no_longer_declares_make_no_build(project):
    s = due(schedule(project, params={"TARGET": "production"}), timedelta(minutes=1))
    project.src.commit({".herald.yml": PIPELINE.replace("TARGET", "WHERE")})
    firing.fire_due()
    s.refresh_from_db()
    assert s.last_error == "unknown parameter 'TARGET' (the pipeline declares: WHERE, DRY_RUN)"
    assert not Job.objects.exists()


def test_an_inactive_repository_makes_no_build(project):
    s = due(schedule(project), timedelta(minutes=1))
    project.repo.active = False
    project.repo.save()
    firing.fire_due()
    s.refresh_from_db()
    assert s.last_error == "acme/widgets is inactive: it builds nothing until an admin activates it"
    assert not Job.objects.exists()


def test_every_worker_makes_sure_the_django_q2_schedule_exists_once():
    assert firing.install() is True
    assert firing.install() is False
    [row] = QSchedule.objects.filter(name=firing.NAME)
    assert (row.func, row.schedule_type, row.minutes, row.repeats) == (firing.TASK, QSchedule.MINUTES, 1, -1)
    assert row.next_run <= timezone.now() and row.next_run.second == 0
    # Two machines that started at once made one each: the next start goes on.
    QSchedule.objects.create(name=firing.NAME, func=firing.TASK, schedule_type=QSchedule.MINUTES, minutes=1)
    assert firing.install() is False


def test_a_step_may_run_only_on_cron_builds():
    raw = b"image: alpine\nsteps:\n  - name: nightly\n    commands: [make slow-tests]\n    when: {event: [cron]}\n"
    pipeline = parse_herald(parse_yaml(raw, ".herald.yml"), ".herald.yml")
    assert pipeline.steps[0].when.event == ["cron"]
