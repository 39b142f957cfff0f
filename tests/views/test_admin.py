"""Everything stays reachable from /admin/ for staff."""

import pytest

from builds.models import Job

pytestmark = pytest.mark.django_db


def test_staff_can_browse_and_act_on_everything(client, users, make_repository, make_job, add_log):
    users.staff.is_superuser = True
    users.staff.save()
    repo = make_repository()
    job = make_job(repo, status="running")
    add_log(job, "hello\n")
    client.force_login(users.staff)
    for url in (
        "/admin/",
        "/admin/builds/job/",
        f"/admin/builds/job/{job.pk}/change/",
        "/admin/repositories/repository/",
        f"/admin/repositories/repository/{repo.pk}/change/",
        "/admin/webhooks/delivery/",
        "/admin/builds/logchunk/",
        "/admin/builds/worker/",
    ):
        assert client.get(url).status_code == 200, url
    r = client.post("/admin/builds/job/", {"action": "cancel", "_selected_action": [job.pk]})
    assert r.status_code == 302
    job.refresh_from_db()
    assert job.cancel_requested
    client.post("/admin/builds/job/", {"action": "restart_jobs", "_selected_action": [job.pk]})
    assert Job.objects.filter(restarted_from=job).exists()
