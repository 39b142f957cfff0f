"""Matrix builds: the first job expands the matrix into sibling jobs, one
per combination, each running with its values (in env and image names)."""

import pytest

from builds.models import Job
from builds.scheduling import restart
from tests.builds.helpers import jobs_of, log_of, queue, run_commit, run_next
from tests.support import TEST_IMAGE

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

PIPELINE = """\
matrix:
  FLAVOR: [m1, m2]
  LEVEL: ["3.10", "4"]
steps:
  - name: show
    image: herald-test/busybox:${FLAVOR}
    commands: ["echo combination=$FLAVOR/$LEVEL", "cat /etc/flavor"]
"""


@pytest.fixture
def flavours(docker_client, test_image):
    """herald-test/busybox:m1 and :m2, each saying which it is."""
    import io

    for tag in ("m1", "m2"):
        docker_client.images.build(
            fileobj=io.BytesIO(f"FROM {TEST_IMAGE}\nRUN echo image-{tag} > /etc/flavor\n".encode()),
            tag=f"herald-test/busybox:{tag}", rm=True, pull=False,
        )


@pytest.fixture
def repo_and_sha(git_repo, make_repository, flavours):
    src = git_repo()
    sha = src.commit({".herald.yml": PIPELINE})
    return make_repository("acme/widgets", clone_url=src.url), sha


def test_the_first_job_expands_the_matrix_into_sibling_jobs(repo_and_sha, client):
    repo, sha = repo_and_sha
    first = run_commit(repo, sha)
    assert first.status == "success", log_of(first)
    assert first.matrix == {"FLAVOR": "m1", "LEVEL": "3.10"} and first.group_id == first.pk

    jobs = jobs_of(repo)
    assert [j.number for j in jobs] == [1, 2, 3, 4]
    siblings = jobs[1:]
    assert [j.matrix for j in siblings] == [
        {"FLAVOR": "m1", "LEVEL": "4"}, {"FLAVOR": "m2", "LEVEL": "3.10"}, {"FLAVOR": "m2", "LEVEL": "4"},
    ]
    assert all(j.group_id == first.pk and j.status == "queued" for j in siblings)
    assert all((j.commit, j.branch, j.event) == (sha, "main", "push") for j in siblings)
    assert "the other 3 combination(s) run as #2, #3, #4" in log_of(first)
    assert "\ncombination=m1/3.10\n" in log_of(first) and "\nimage-m1\n" in log_of(first)

    for _ in siblings:
        run_next()
    for job in Job.objects.filter(pk__in=[j.pk for j in siblings]):
        assert job.status == "success", log_of(job)
        flavor, level = job.matrix["FLAVOR"], job.matrix["LEVEL"]
        assert f"\ncombination={flavor}/{level}\n" in log_of(job) and f"\nimage-{flavor}\n" in log_of(job)
        assert f"==> Step 1/1: show (herald-test/busybox:{flavor})" in log_of(job)
    # Nothing expanded twice.
    assert Job.objects.filter(repository=repo).count() == 4

    data = client.get(f"/api/jobs/{siblings[1].pk}/").json()
    assert data["matrix"] == {"FLAVOR": "m2", "LEVEL": "3.10"} and data["group"] == first.pk
    assert data["steps"][0]["name"] == "show" and data["steps"][0]["status"] == "success"
    listing = client.get(f"/api/repos/acme/widgets/jobs/?group={first.pk}").json()
    assert listing["count"] == 4


def test_restarting_a_matrix_job_reruns_only_its_combination(repo_and_sha):
    repo, sha = repo_and_sha
    first = run_commit(repo, sha)
    sibling = Job.objects.get(repository=repo, number=3)
    Job.objects.filter(repository=repo, status="queued").update(status="cancelled")

    again = restart(sibling)
    assert again.matrix == sibling.matrix and again.restarted_from_id == sibling.pk
    assert (again.commit, again.event, again.branch) == (sha, "push", "main")
    ran = run_next()
    assert ran.pk == again.pk and ran.status == "success"
    assert "combination=m2/3.10" in log_of(ran)
    assert Job.objects.filter(repository=repo).count() == 5
    first.refresh_from_db()
    assert first.status == "success"  # a restart supersedes nothing


def test_a_new_push_cancels_the_queued_siblings_of_the_older_build(repo_and_sha, git_repo):
    repo, sha = repo_and_sha
    run_commit(repo, sha)
    newer = queue(repo, "f" * 40)
    siblings = Job.objects.filter(repository=repo, number__in=[2, 3, 4])
    assert {j.status for j in siblings} == {"cancelled"}
    assert {j.reason for j in siblings} == {f"Superseded by #{newer.number}"}
