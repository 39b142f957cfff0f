"""A real Herald (gunicorn + django-q2 qcluster) receiving signed pushes over HTTP."""

import concurrent.futures
import json

import pytest

from tests.support import github_headers, github_push, herald_yml

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def test_a_push_builds_to_success_failure_and_error(live_herald, git_repo):
    herald = live_herald()
    src = git_repo()
    ok = src.commit({".herald.yml": herald_yml("echo e2e-output-marker")}, "works")
    herald.add_repo("acme/widgets", src.url)

    r = herald.push_github("acme/widgets", ok, message="works")
    assert r.status_code == 202, r.text
    job_id = r.json()["jobs"][0]
    job = herald.wait_job(job_id)
    assert job["status"] == "success", herald.log_text(job_id)
    assert "e2e-output-marker" in herald.log_text(job_id)
    assert job["number"] == 1 and job["commit"] == ok and job["branch"] == "main"

    bad = src.commit({".herald.yml": herald_yml("echo failing", "exit 5")}, "breaks")
    job = herald.wait_job(herald.push_github("acme/widgets", bad).json()["jobs"][0])
    assert (job["status"], job["exit_code"]) == ("failed", 5)

    none = src.commit({".herald.yml": None}, "removes the config")
    job = herald.wait_job(herald.push_github("acme/widgets", none).json()["jobs"][0])
    assert job["status"] == "errored" and "No build definition" in job["reason"]

    listing = herald.get_json("/api/repos/acme/widgets/jobs/")
    assert [j["number"] for j in listing["jobs"]] == [3, 2, 1]


def test_concurrent_webhooks_get_distinct_numbers_and_one_job_per_delivery(live_herald, git_repo):
    herald = live_herald()
    src = git_repo()
    shas = [src.commit({".herald.yml": herald_yml("true"), "n": str(i)}, f"c{i}") for i in range(12)]
    herald.add_repo("acme/widgets", src.url)

    def send(sha, delivery=None):
        body = json.dumps(github_push("acme/widgets", sha, branch=f"b-{sha[:6]}")).encode()
        return herald.post("/webhooks/github/", body, github_headers("s3cret", body, delivery=delivery))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, shas))
        same = list(pool.map(lambda _: send(shas[0], delivery="same-delivery-id"), range(6)))
    assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
    # One of the six copies of a delivery of an already built push may win
    # as a new job only if the dedupe window let it; none may create two.
    assert sum(1 for a in same if a.status_code == 202) == 0
    job_ids = [a.json()["jobs"][0] for a in answers]
    numbers = sorted(herald.job(j)["number"] for j in job_ids)
    assert numbers == list(range(1, 13))
    for j in job_ids:
        assert herald.wait_job(j)["status"] == "success"
