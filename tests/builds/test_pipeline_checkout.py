"""The pipeline file as it arrives in a hostile checkout: real git
repositories, real clones, the runner deciding the job's status."""

import pytest

from tests.builds.helpers import log_of, run_commit, steps_of
from tests.support import TEST_IMAGE, Symlink, herald_yml

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def push(git_repo, make_repository, test_image):
    def push(files, prepare=None):
        src = git_repo()
        if prepare:
            prepare(src.path)
        sha = src.commit(files)
        return run_commit(make_repository("acme/widgets", clone_url=src.url), sha)

    return push


def assert_errored(job, reason):
    assert (job.status, job.reason) == ("errored", reason)
    assert f"Error: {reason}" in log_of(job)
    assert steps_of(job) == []


def test_a_pipeline_file_linking_outside_the_checkout_errors_the_job(push, tmp_path):
    planted = tmp_path / "planted.yml"
    planted.write_text(herald_yml("echo PLANTED-PIPELINE-RAN"))
    job = push({".herald.yml": Symlink(str(planted)), "Dockerfile": f"FROM {TEST_IMAGE}\n"})
    assert_errored(
        job,
        ".herald.yml is a symbolic link that leads outside the repository: Herald reads only files inside the checkout",
    )
    assert "PLANTED-PIPELINE-RAN" not in log_of(job)


def test_a_pipeline_file_linking_to_an_endless_device_errors_the_job(push):
    job = push({".herald.yml": Symlink("/dev/zero")})
    assert_errored(
        job,
        ".herald.yml is a symbolic link that leads outside the repository: Herald reads only files inside the checkout",
    )


def test_a_pipeline_file_linking_to_a_file_of_the_checkout_builds(push):
    job = push({"ci/herald.yml": herald_yml("echo from-the-linked-file"), ".herald.yml": Symlink("ci/herald.yml")})
    assert job.status == "success", log_of(job)
    assert "from-the-linked-file" in log_of(job)


def test_a_200_mb_pipeline_file_errors_the_job_without_being_read(push):
    def sparse(path):
        with open(path / ".herald.yml", "wb") as f:
            f.write(herald_yml("true").encode())
            f.truncate(200 * 2**20)

    job = push({}, prepare=sparse)
    assert_errored(job, ".herald.yml: the file is 200.0 MiB; the limit is 512 KiB")


def test_an_alias_bomb_errors_the_job_naming_the_line(push):
    big = "x" * 32 * 1024
    text = f'image: {TEST_IMAGE}\nenv: {{A: &big "{big}"}}\nsteps:\n  - name: a\n    commands:\n'
    text += "      - *big\n" * 2500
    job = push({".herald.yml": text})
    assert_errored(
        job,
        ".herald.yml, line 68: alias *big: the document grows past 2 MiB once its aliases "
        "are expanded (each *alias repeats the whole of its &anchor)",
    )
