"""A pushed commit is hostile, its symbolic links included: no path a
pipeline names may take a build outside its checkout, and Herald's own
files never reach a build log.

The attack these tests replay: a commit holds `data -> ../..` and names it as
a `build:` step's context, so the worker packs the directory above the
checkout (Herald's data dir, when the checkouts lived in it) and sends it to
`docker build`, whose `RUN cat` prints it into the log.
"""

import os
import subprocess
import sys
import uuid

import docker
import pytest
from django.conf import settings as django_settings

from builds.docker import image_build
from builds.models import Job
from tests.builds.helpers import log_of, queue, run_next
from tests.support import TEST_IMAGE, Symlink

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server_dir(tmp_path, settings):
    """The old layout: checkouts under the data dir, a file of Herald's two
    levels above every checkout."""
    data = tmp_path / "data"
    settings.WORKSPACE_DIR = data / "workspaces"
    planted = "herald-private-" + uuid.uuid4().hex
    data.mkdir()
    (data / "herald.sqlite3").write_text(planted + "\n")
    return data, planted


def run_pipeline(git_repo, make_repository, files_for):
    """Runs a commit whose files may name the job's own id (its checkout is
    <workspaces>/job-<id>, a path an attacker can guess)."""
    src = git_repo()
    repository = make_repository(clone_url=src.url)
    job = queue(repository, src.commit({"README": "placeholder\n"}))
    sha = src.commit(files_for(job.pk))
    Job.objects.filter(pk=job.pk).update(commit=sha)
    ran = run_next()
    assert ran.pk == job.pk
    return ran


def stealing_pipeline(job_id, files):
    return {
        "data": Symlink("../.."),
        ".herald.yml": (
            f"steps:\n  - name: steal\n    build: {{context: data, dockerfile: workspaces/job-{job_id}/Dockerfile}}\n"
        ),
        # A line of its own, so Docker's build cache never answers for the RUN.
        "Dockerfile": (
            f"FROM {TEST_IMAGE}\nRUN echo {uuid.uuid4().hex}\n"
            f"COPY {' '.join(files)} /k/\nRUN cat /k/* && echo done-reading\n"
        ),
    }


def test_it_refuses_a_build_context_linked_out_of_the_checkout(server_dir, git_repo, make_repository, test_image):
    _, planted = server_dir
    job = run_pipeline(git_repo, make_repository, lambda pk: stealing_pipeline(pk, ["herald.sqlite3"]))

    assert job.status == "errored"
    assert "The build context 'data' leads outside the repository" in job.reason
    assert planted not in log_of(job)


def test_it_refuses_a_dockerfile_linked_out_of_the_checkout(server_dir, git_repo, make_repository, test_image):
    _, planted = server_dir
    job = run_pipeline(
        git_repo,
        make_repository,
        lambda pk: {
            "Dockerfile": Symlink("../../herald.sqlite3"),
            ".herald.yml": "steps:\n  - name: image\n    build: Dockerfile\n",
        },
    )

    assert job.status == "errored"
    assert "The Dockerfile 'Dockerfile' leads outside the repository" in job.reason
    assert planted not in log_of(job)


def test_it_sends_links_inside_the_context_as_links(server_dir, git_repo, make_repository, test_image):
    _, planted = server_dir
    job = run_pipeline(
        git_repo,
        make_repository,
        lambda pk: {
            "peek": Symlink("../../herald.sqlite3"),
            "app/Dockerfile": Symlink("../Dockerfile.real"),
            "Dockerfile.real": (
                f"FROM {TEST_IMAGE}\nCOPY . /ctx\n"
                "RUN readlink /ctx/peek; cat /ctx/peek 2>/dev/null || echo not-followed\n"
            ),
            ".herald.yml": "steps:\n  - name: image\n    build: {context: ., dockerfile: app/Dockerfile}\n",
        },
    )

    log = log_of(job)
    assert job.status == "success", log
    assert "../../herald.sqlite3" in log and "not-followed" in log
    assert planted not in log


@pytest.mark.parametrize("mode", ["bind", "copy"])
def test_it_refuses_a_link_an_earlier_step_planted(mode, server_dir, git_repo, make_repository, test_image, settings):
    settings.HERALD_WORKSPACE_MODE = mode
    _, planted = server_dir
    job = run_pipeline(
        git_repo,
        make_repository,
        lambda pk: {
            "Dockerfile": f"FROM {TEST_IMAGE}\nCOPY . /ctx\nRUN cat /ctx/herald.sqlite3; true\n",
            ".herald.yml": (
                "steps:\n"
                f"  - name: plant\n    image: {TEST_IMAGE}\n    commands: ['ln -s ../.. /repo/up']\n"
                "  - name: image\n    build: {context: up}\n"
            ),
        },
    )

    log = log_of(job)
    assert job.status == "errored", log
    assert "The build context 'up' leads outside the" in job.reason
    assert planted not in log


def test_herald_keys_never_reach_a_log_even_through_a_path_bug(
    server_dir, git_repo, make_repository, test_image, monkeypatch
):
    data, _ = server_dir
    # Herald's own key files, under their real names, where the trick finds them.
    (data / "secret_key").write_text(django_settings.SECRET_KEY)
    (data / "encryption_key").write_text(",".join(django_settings.HERALD_ENCRYPTION_KEYS))

    def pack_naively(checkout, context, dockerfile):  # a future bug: the path joined as text, links followed
        return docker.utils.tar(os.path.join(checkout, context), dockerfile=(dockerfile, None)), dockerfile

    monkeypatch.setattr(image_build, "pack_directory", pack_naively)
    job = run_pipeline(git_repo, make_repository, lambda pk: stealing_pipeline(pk, ["secret_key", "encryption_key"]))

    log = log_of(job)
    assert "done-reading" in log, log  # the trick worked: only masking stands in the way
    assert django_settings.SECRET_KEY not in log
    for key in django_settings.HERALD_ENCRYPTION_KEYS:
        assert key not in log
    assert "****" in log


def test_checkouts_live_where_nothing_of_herald_is_above_or_beside_them(tmp_path):
    data = tmp_path / "server-data"
    env = {**os.environ, "HERALD_DATA_DIR": str(data), "HERALD_INSTANCE": f"test-{uuid.uuid4().hex[:8]}"}
    env.pop("HERALD_WORKSPACE_DIR", None)
    out = (
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from django.conf import settings; print(settings.WORKSPACE_DIR)",
            ],
            cwd=django_settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    workspaces = os.path.realpath(out)
    assert not workspaces.startswith(os.path.realpath(data) + os.sep)
    herald_files = {"secret_key", "encryption_key", "herald.sqlite3", "instance_id"}
    folder = workspaces
    while folder != "/":
        assert not herald_files & set(os.listdir(folder)) if os.path.isdir(folder) else True, folder
        folder = os.path.dirname(folder)
    assert oct(os.stat(os.path.dirname(workspaces)).st_mode & 0o777) == "0o700"
