"""Matrix builds: the first job expands the matrix into sibling jobs, one
per combination, each running with its values (in env and image names)."""

import pytest

from builds.lifecycle import restart
from builds.models import Job
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
            tag=f"herald-test/busybox:{tag}",
            rm=True,
            pull=False,
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
        {"FLAVOR": "m1", "LEVEL": "4"},
        {"FLAVOR": "m2", "LEVEL": "3.10"},
        {"FLAVOR": "m2", "LEVEL": "4"},
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


def test_once_a_matrix_is_known_a_push_makes_every_job_at_once(repo_and_sha, git_repo, client):
    import json

    from tests.support import github_headers, github_push

    repo, sha = repo_and_sha
    run_commit(repo, sha)
    Job.objects.filter(repository=repo, status="queued").update(status="cancelled")
    body = json.dumps(github_push("acme/widgets", sha, branch="feature")).encode()
    h = github_headers("s3cret", body)
    r = client.post(
        "/webhooks/github/",
        data=body,
        content_type="application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in h.items() if k != "Content-Type"},
    )
    assert r.status_code == 202, r.content
    ids = r.json()["jobs"]
    assert len(ids) == 4, "the webhook answer lists every job of the matrix build"
    jobs = list(Job.objects.filter(pk__in=ids).order_by("id"))
    assert [j.matrix for j in jobs] == [
        {"FLAVOR": "m1", "LEVEL": "3.10"},
        {"FLAVOR": "m1", "LEVEL": "4"},
        {"FLAVOR": "m2", "LEVEL": "3.10"},
        {"FLAVOR": "m2", "LEVEL": "4"},
    ]
    assert {j.group_id for j in jobs} == {jobs[0].pk}
    for _ in jobs:
        run_next()
    for job in Job.objects.filter(pk__in=ids):
        assert job.status == "success", log_of(job)
        assert f"combination={job.matrix['FLAVOR']}/{job.matrix['LEVEL']}" in log_of(job)
    assert Job.objects.filter(repository=repo).count() == 8, "nothing made twice"


def test_a_predicted_matrix_is_corrected_by_the_commits_own_file(repo_and_sha, git_repo, make_repository):
    repo, sha = repo_and_sha
    run_commit(repo, sha)
    Job.objects.filter(repository=repo, status="queued").update(status="cancelled")
    repo.refresh_from_db()
    assert len(repo.matrix_hint) == 4
    # The next commit changes the matrix: one flavour, other levels.
    src = git_repo()
    changed = src.commit(
        {
            ".herald.yml": PIPELINE.replace("FLAVOR: [m1, m2]", "FLAVOR: [m1]").replace(
                'LEVEL: ["3.10", "4"]', 'LEVEL: ["4", "5"]'
            )
        }
    )
    repo.clone_url = src.url
    repo.save()
    predicted = queue(repo, changed)
    made = list(Job.objects.filter(group=predicted).order_by("id"))
    assert len(made) == 4
    for _ in range(5):
        run_next()
    by_combo = {(j.matrix.get("FLAVOR"), j.matrix.get("LEVEL")): j for j in Job.objects.filter(group=predicted)}
    assert by_combo[("m1", "4")].status == "success"
    assert by_combo[("m1", "5")].status == "success", "the combination the prediction missed was added"
    for combo in [("m1", "3.10"), ("m2", "3.10"), ("m2", "4")]:
        job = by_combo[combo]
        assert job.status == "skipped" and "not in this commit's matrix" in job.reason
    repo.refresh_from_db()
    assert [(c["FLAVOR"], c["LEVEL"]) for c in repo.matrix_hint] == [("m1", "4"), ("m1", "5")]
