"""A real Herald (gunicorn + django-q2 qcluster): a pull request from a fork
runs nothing until someone with push rights approves it over the API."""

import pytest
import requests

from tests.e2e.test_forges_e2e import pr_only_commit, send
from tests.forges.forge_kit import PR, aim_pr
from tests.support import herald_yml

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def test_a_fork_pull_request_waits_blocked_until_approved_then_runs(live_herald, git_repo):
    herald = live_herald()
    src = git_repo()
    src.commit({".herald.yml": herald_yml("echo main")}, "main")
    sha = pr_only_commit(src, 7, "refs/pull/{n}/head", "fork-pr-ran")
    herald.add_repo("acme/widgets", src.url)
    herald.manage(
        "shell",
        "-c",
        (
            "from django.contrib.auth import get_user_model; from repositories.models import Membership, Repository; "
            "u = get_user_model().objects.create_user('ada'); "
            "Membership.objects.create(user=u, repository=Repository.objects.get(), permission='push')"
        ),
    )
    auth = {"Authorization": f"Bearer {herald.manage('createtoken', 'ada').strip()}"}

    event, name = PR["github"]["opened"]
    payload = aim_pr("github", name, "acme/widgets", sha, number=7)
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/widgets"
    r = send(herald, "github", payload, event)
    assert r.status_code == 202, r.text
    job_id = r.json()["jobs"][0]

    # The worker is up and polls the queue; a blocked job is never picked
    # up, however long it waits. Another build shows the worker is working.
    other = herald.push_github("acme/widgets", src.commit({"x": "1"}, "on main"), branch="main")
    assert herald.wait_job(other.json()["jobs"][0])["status"] == "success"
    job = herald.job(job_id)
    assert (job["status"], job["started_at"], job["worker"]) == ("blocked", None, "")
    assert job["reason"] == "Waiting for approval: a pull request from the fork mallory/widgets"
    assert "fork-pr-ran" not in herald.log_text(job_id)

    r = requests.post(f"{herald.url}/api/jobs/{job_id}/approve", headers=auth, timeout=10)
    assert r.status_code == 202, r.text
    job = herald.wait_job(job_id)
    assert (job["status"], job["approved_by"]) == ("success", "ada"), herald.log_text(job_id)
    assert "fork-pr-ran" in herald.log_text(job_id)


def test_a_declined_fork_pull_request_never_runs(live_herald, git_repo):
    herald = live_herald()
    src = git_repo()
    src.commit({".herald.yml": herald_yml("echo main")}, "main")
    sha = pr_only_commit(src, 8, "refs/pull/{n}/head", "declined-pr-ran")
    herald.add_repo("acme/widgets", src.url)
    herald.manage(
        "shell",
        "-c",
        ("from django.contrib.auth import get_user_model; get_user_model().objects.create_user('ada', is_staff=True)"),
    )
    auth = {"Authorization": f"Bearer {herald.manage('createtoken', 'ada').strip()}"}
    event, name = PR["github"]["opened"]
    payload = aim_pr("github", name, "acme/widgets", sha, number=8)
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/widgets"
    job_id = send(herald, "github", payload, event).json()["jobs"][0]

    r = requests.post(f"{herald.url}/api/jobs/{job_id}/decline", headers=auth, timeout=10)
    assert r.status_code == 202, r.text
    job = herald.wait_job(job_id, timeout=10)
    assert (job["status"], job["reason"], job["declined_by"]) == ("cancelled", "Declined by ada", "ada")
    # The worker still builds what it is given: the declined job stays unrun.
    other = herald.push_github("acme/widgets", src.commit({"y": "1"}, "on main"), branch="main")
    assert herald.wait_job(other.json()["jobs"][0])["status"] == "success"
    assert herald.job(job_id)["started_at"] is None
    assert "declined-pr-ran" not in herald.log_text(job_id)
