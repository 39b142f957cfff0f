import pytest
from django.test import Client
from django.utils import timezone

from builds.models import Job, JobStep, Worker
from tests.conftest import finished

pytestmark = pytest.mark.django_db


def test_the_header_links_the_commit_and_pull_request_on_the_forge(client, make_repository, make_job):
    repo = make_repository(html_url="https://github.com/acme/widgets")
    job = make_job(
        repo,
        event="pull_request",
        pr_number=7,
        pr_title="Faster widgets",
        source_branch="fast",
        target_branch="main",
        author="Grace Hopper",
        **finished(),
    )
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'href="https://github.com/acme/widgets/commit/{job.commit}"' in html
    assert 'href="https://github.com/acme/widgets/pull/7"' in html and "Faster widgets" in html
    assert "Grace Hopper" in html and "pull request" in html
    assert "ran 42 s" in html


def test_it_lists_steps_with_their_durations(client, make_repository, make_job):
    job = make_job(make_repository(), **finished(status="failed"))
    t = job.started_at
    JobStep.objects.create(
        job=job,
        number=1,
        name="compile",
        status="success",
        exit_code=0,
        started_at=t,
        finished_at=t + timezone.timedelta(seconds=75),
    )
    JobStep.objects.create(
        job=job,
        number=2,
        name="unit-tests",
        status="failed",
        exit_code=3,
        started_at=t,
        finished_at=t + timezone.timedelta(seconds=5),
    )
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    steps = html[html.index('id="steps"') : html.index("</ol>")]
    assert "compile" in steps and "1 min 15 s" in steps
    assert "unit-tests" in steps and "status-failed" in steps and "exit 3" in steps


def test_a_matrix_job_lists_its_siblings(client, make_repository, make_job):
    repo = make_repository()
    parent = make_job(repo, **finished())
    a = make_job(repo, group=parent, matrix={"python": "3.11"}, **finished())
    b = make_job(repo, group=parent, matrix={"python": "3.12"}, status="failed")
    html = client.get(f"/jobs/{a.pk}/").content.decode()
    assert "python=3.11" in html and "python=3.12" in html and f'href="/jobs/{b.pk}/"' in html


def waiting(client, job):
    return client.get(f"/api/jobs/{job.pk}/log/lines", {"count": 0}).json()["waiting"]


def test_a_queued_job_says_no_worker_has_connected(client, make_repository, make_job):
    job = make_job(make_repository())
    assert waiting(client, job) == [
        "It is next in the queue.",
        "No worker has connected yet: start one with manage.py qcluster (or manage.py serve).",
    ]
    assert "No worker has connected yet" in client.get(f"/jobs/{job.pk}/").content.decode()


def test_a_queued_job_says_when_the_last_worker_was_seen(client, make_repository, make_job):
    Worker.objects.create(host="builder-7", last_seen=timezone.now() - timezone.timedelta(minutes=12))
    job = make_job(make_repository())
    assert "No worker is online: the last one, builder-7, was seen 12\xa0minutes ago." in waiting(client, job)[1]


def test_a_queued_job_gives_its_place_in_the_queue(client, make_repository, make_job):
    Worker.objects.create(host="box", slots=1)
    repo = make_repository()
    make_job(repo, status="running", started_at=timezone.now(), worker="box")
    make_job(repo)
    make_job(repo)
    job = make_job(repo)
    reasons = waiting(client, job)
    assert reasons[0] == "It is number 3 in the queue: 2 jobs queued before it start first."
    assert "All build slots are busy: box runs 1 build at a time (HERALD_CONCURRENCY) and 1 is running." in reasons
    Worker.objects.create(host="other", slots=1)
    make_job(repo, status="running", started_at=timezone.now(), worker="other")
    assert (
        "All build slots are busy: 2 workers (box, other) run 2 builds at a time between them "
        "and 2 are running." in waiting(client, job)
    )


def test_a_queued_job_names_the_concurrency_limit_it_waits_on(client, settings, make_repository, make_job):
    Worker.objects.create(host="box", slots=4)
    repo = make_repository(max_concurrency=1)
    make_job(repo, status="running", started_at=timezone.now(), worker="box")
    job = make_job(repo)
    assert waiting(client, job) == [
        "It is next in the queue.",
        "acme/widgets runs at most 1 build at once and 1 is running; it starts when one of them ends.",
    ]
    settings.HERALD_MAX_RUNNING = 1
    assert "This installation runs at most 1 build at once (HERALD_MAX_RUNNING) and 1 is running." in waiting(
        client, job
    )


def test_a_job_with_a_free_worker_is_simply_next(client, make_repository, make_job):
    Worker.objects.create(host="box", slots=2)
    job = make_job(make_repository())
    assert waiting(client, job) == ["It is next in the queue and starts as soon as a worker picks it up."]
    job.status = "running"
    job.save()
    assert waiting(client, job) == []


def test_cancel_and_rebuild_need_push_permission(client, users, member, make_repository, make_job):
    repo = make_repository()
    member(users.reader, repo, "pull")
    member(users.pusher, repo, "push")
    job = make_job(repo)

    r = client.post(f"/jobs/{job.pk}/cancel")
    assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert 'id="cancel"' not in client.get(f"/jobs/{job.pk}/").content.decode()

    client.force_login(users.reader)
    assert client.post(f"/jobs/{job.pk}/cancel").status_code == 403
    assert client.post(f"/jobs/{job.pk}/restart").status_code == 403
    assert 'id="cancel"' not in client.get(f"/jobs/{job.pk}/").content.decode()

    client.force_login(users.pusher)
    assert 'id="cancel"' in client.get(f"/jobs/{job.pk}/").content.decode()
    r = client.post(f"/jobs/{job.pk}/cancel")
    assert r.status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled" and job.reason == "Cancelled by pusher"
    r = client.post(f"/jobs/{job.pk}/restart")
    new = Job.objects.exclude(pk=job.pk).get()
    assert r["Location"] == f"/jobs/{new.pk}/"
    assert (new.commit, new.restarted_from_id, new.triggered_by, new.status) == (job.commit, job.pk, "pusher", "queued")


def test_cancel_and_rebuild_are_csrf_protected(users, member, make_repository, make_job):
    repo = make_repository()
    member(users.pusher, repo, "push")
    job = make_job(repo)
    client = Client(enforce_csrf_checks=True)
    client.force_login(users.pusher)
    assert client.post(f"/jobs/{job.pk}/cancel").status_code == 403
    assert client.post(f"/jobs/{job.pk}/restart").status_code == 403
    job.refresh_from_db()
    assert job.status == "queued" and Job.objects.count() == 1
    assert client.get(f"/jobs/{job.pk}/cancel").status_code == 405


def test_a_private_job_is_404_for_outsiders_everywhere(client, users, make_repository, make_job, add_log):
    job = make_job(make_repository("acme/secret", private=True), **finished())
    add_log(job, "classified\n")
    client.force_login(users.outsider)
    for url in (
        f"/jobs/{job.pk}/",
        f"/jobs/{job.pk}/log.txt",
        f"/api/jobs/{job.pk}/log/lines",
        f"/api/jobs/{job.pk}/log/search?q=classified",
        "/badges/acme/secret.svg",
    ):
        r = client.get(url)
        assert r.status_code == 404, url
        assert b"classified" not in r.content
