"""Pipelines through a real Herald (gunicorn + django-q2 qcluster): cancel
and restart over the API with a token, auto-cancel of a running build,
matrix builds. Workers stopped and killed: tests/e2e/test_drain.py."""

import time

import pytest
import requests

from tests.support import TEST_IMAGE

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def containers(docker_client, herald, job_id, running_only=False):
    instance = herald.instance
    labels = [f"org.herald-ci.instance={instance}", f"org.herald-ci.job={job_id}"]
    return docker_client.containers.list(all=not running_only, filters={"label": labels})


def leftovers(docker_client, herald, job_id):
    instance = herald.instance
    labels = {"label": [f"org.herald-ci.instance={instance}", f"org.herald-ci.job={job_id}"]}
    return (
        docker_client.containers.list(all=True, filters=labels)
        + docker_client.networks.list(filters=labels)
        + docker_client.volumes.list(filters=labels)
    )


def token_for(herald, username="ada"):
    herald.manage(
        "shell",
        "-c",
        (
            "from django.contrib.auth import get_user_model; "
            f"get_user_model().objects.create_user({username!r}, is_staff=True)"
        ),
    )
    return herald.manage("createtoken", username).strip()


def test_cancel_and_restart_over_the_api(live_herald, git_repo, docker_client):
    herald = live_herald()
    src = git_repo()
    sha = src.commit(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
steps:
  - name: long
    commands:
      - echo partial-output-before-cancel
      - 'if [ "$HERALD_JOB_NUMBER" = 1 ]; then sleep 600; fi'
"""
        }
    )
    herald.add_repo("acme/widgets", src.url)
    auth = {"Authorization": f"Bearer {token_for(herald)}"}
    job_id = herald.push_github("acme/widgets", sha).json()["jobs"][0]
    wait_for("the step container", lambda: containers(docker_client, herald, job_id, running_only=True), 60)
    wait_for("output", lambda: "partial-output-before-cancel" in herald.log_text(job_id), 10)

    r = requests.post(f"{herald.url}/api/jobs/{job_id}/cancel", headers=auth, timeout=10)
    assert r.status_code == 202, r.text
    # The containers stop within 10 s of the request.
    wait_for("containers gone", lambda: not containers(docker_client, herald, job_id), 10)
    wait_for("network and volume gone", lambda: not leftovers(docker_client, herald, job_id), 10)
    job = herald.wait_job(job_id, timeout=10)
    assert (job["status"], job["reason"]) == ("cancelled", "Cancelled by ada")
    assert job["steps"] == [dict(job["steps"][0], name="long", status="cancelled")]
    assert "partial-output-before-cancel" in herald.log_text(job_id)

    r = requests.post(f"{herald.url}/api/jobs/{job_id}/restart", headers=auth, timeout=10)
    assert r.status_code == 201, r.text
    again = herald.wait_job(r.json()["id"])
    assert (again["status"], again["commit"], again["event"], again["number"]) == ("success", sha, "push", 2)


def test_a_new_push_cancels_the_running_build_of_its_branch(live_herald, git_repo, docker_client):
    herald = live_herald()
    src = git_repo()
    slow = src.commit({".herald.yml": f"image: {TEST_IMAGE}\ncommands: [echo first, sleep 600]\n"})
    herald.add_repo("acme/widgets", src.url)
    first = herald.push_github("acme/widgets", slow).json()["jobs"][0]
    wait_for("the step container", lambda: containers(docker_client, herald, first, running_only=True), 60)

    fast = src.commit({".herald.yml": f"image: {TEST_IMAGE}\ncommands: [echo second]\n"})
    second = herald.push_github("acme/widgets", fast).json()["jobs"][0]
    job = herald.wait_job(first, timeout=30)
    assert (job["status"], job["reason"]) == ("cancelled", "Superseded by #2")
    assert herald.wait_job(second)["status"] == "success"
    wait_for("containers gone", lambda: not containers(docker_client, herald, first), 10)


def test_a_matrix_build_runs_one_job_per_combination(live_herald, git_repo):
    herald = live_herald()
    src = git_repo()
    sha = src.commit(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
matrix:
  SIZE: [small, large]
  ARCH: [x, y]
steps:
  - name: show
    commands: ['echo "built $SIZE-$ARCH"']
"""
        }
    )
    herald.add_repo("acme/widgets", src.url)
    r = herald.push_github("acme/widgets", sha)
    assert r.status_code == 202
    (first,) = r.json()["jobs"]
    assert herald.wait_job(first)["status"] == "success"
    listing = wait_for(
        "the siblings",
        lambda: (lambda data: data if data["count"] == 4 else None)(
            herald.get_json(f"/api/repos/acme/widgets/jobs/?group={first}")
        ),
        30,
    )
    seen = set()
    for job in listing["jobs"]:
        done = herald.wait_job(job["id"])
        assert done["status"] == "success" and done["group"] == first
        combo = f"{done['matrix']['SIZE']}-{done['matrix']['ARCH']}"
        assert f"built {combo}\n" in herald.log_text(job["id"])
        seen.add(combo)
    assert seen == {"small-x", "small-y", "large-x", "large-y"}
