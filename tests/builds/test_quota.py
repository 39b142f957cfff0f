"""The per-job disk quota (HERALD_WORKSPACE_MAX_BYTES) on a real Docker
engine, with the workspace bound from the worker's disk and copied into a
volume; and the walk that measures a workspace on the worker."""

import os
import re
import subprocess
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from builds.docker.usage import Unmeasurable, disk_usage
from builds.runner import workspace_for
from ciproject.env import envsize
from tests.builds.helpers import build_image, job_objects, log_of, run_commit, steps_of
from tests.support import TEST_IMAGE, Symlink

MiB = 2**20
REASON = re.compile(r"The workspace exceeded its quota: (\d+\.\d) MiB written, HERALD_WORKSPACE_MAX_BYTES=5\.0 MiB")


# --- the walk (no Docker) ---------------------------------------------------------


def test_it_counts_the_blocks_files_hold(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "data").write_bytes(os.urandom(3 * MiB))
    assert 3 * MiB <= disk_usage(tmp_path) < 3 * MiB + 64 * 1024


def test_a_sparse_file_counts_what_it_holds_not_its_length(tmp_path):
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(2**30)
    assert disk_usage(tmp_path) < 64 * 1024


def test_hard_links_count_once(tmp_path):
    (tmp_path / "data").write_bytes(os.urandom(2 * MiB))
    for i in range(5):
        os.link(tmp_path / "data", tmp_path / f"link{i}")
    assert disk_usage(tmp_path) < 2 * MiB + 64 * 1024


def test_links_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(os.urandom(4 * MiB))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "to-file").symlink_to(outside / "big")
    (workspace / "to-dir").symlink_to(outside)
    (workspace / "to-usr").symlink_to("/usr")
    (workspace / "loop").symlink_to(workspace)
    assert disk_usage(workspace) < 64 * 1024


def test_a_tree_too_deep_to_walk_is_refused_rather_than_skipped(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(300):  # 300 × 19 bytes: past PATH_MAX (4096)
            os.mkdir("d" * 18, dir_fd=fd)
            inner = os.open("d" * 18, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("hidden", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "wb") as f:
            f.write(os.urandom(MiB))
    finally:
        os.close(fd)
    with pytest.raises(Unmeasurable, match="File name too long"):
        disk_usage(tmp_path)
    subprocess.run(["rm", "-rf", str(tmp_path / ("d" * 18))], check=True)


def test_a_missing_workspace_is_empty(tmp_path):
    assert disk_usage(tmp_path / "gone") == 0


def test_the_setting_takes_sizes_and_says_which_is_wrong(monkeypatch):
    monkeypatch.setenv("HERALD_WORKSPACE_MAX_BYTES", "10GiB")
    assert envsize("HERALD_WORKSPACE_MAX_BYTES", "1g") == 10 * 2**30
    monkeypatch.setenv("HERALD_WORKSPACE_MAX_BYTES", "lots")
    with pytest.raises(ImproperlyConfigured, match="HERALD_WORKSPACE_MAX_BYTES must be a size"):
        envsize("HERALD_WORKSPACE_MAX_BYTES", "1g")


# --- builds ------------------------------------------------------------------------


@pytest.fixture(params=["bind", "copy"])
def quota(request, settings):
    settings.HERALD_WORKSPACE_MODE = request.param
    settings.HERALD_WORKSPACE_MAX_BYTES = 5 * MiB
    settings.HERALD_WORKSPACE_CHECK_SECONDS = 0.5
    return request.param


@pytest.fixture
def setup(git_repo, make_repository, test_image):
    def make(files):
        src = git_repo()
        sha = src.commit(files)
        return make_repository("acme/widgets", clone_url=src.url), sha

    return make


def pipeline(*steps):
    lines = [f"image: {TEST_IMAGE}", "steps:"]
    for name, commands in steps:
        lines += [f"  - name: {name}", "    commands:"] + [f"      - {c!r}" for c in commands]
    return "\n".join(lines) + "\n"


def assert_stopped_by_the_quota(job, docker_client):
    assert job.status == "errored" and job.exit_code is None
    written = REASON.fullmatch(job.reason)
    assert written, job.reason
    assert float(written.group(1)) > 5.0
    assert f"[herald]\x1b[0m {job.reason}\n" in log_of(job)
    assert job_objects(docker_client, job) == []
    assert not workspace_for(job).exists()


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_build_writing_past_the_quota_in_its_workspace_ends_errored(quota, setup, docker_client):
    repo, sha = setup(
        {
            ".herald.yml": pipeline(
                ("fill", ["dd if=/dev/zero of=/repo/big bs=1M count=50", "sleep 60", "echo after-the-sleep"]),
                ("later", ["echo later-step-ran"]),
            )
        }
    )
    job = run_commit(repo, sha)
    assert_stopped_by_the_quota(job, docker_client)
    text = log_of(job)
    # Stopped during the step, not when it ended.
    assert "\nafter-the-sleep" not in text and "later-step-ran" not in text.replace("$ echo later-step-ran", "")
    assert steps_of(job) == [("fill", "errored", None), ("later", "skipped", None)]


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_step_quicker_than_the_check_is_caught_when_it_ends(quota, setup, docker_client, settings):
    settings.HERALD_WORKSPACE_CHECK_SECONDS = 3600
    repo, sha = setup({".herald.yml": pipeline(("fill", ["dd if=/dev/zero of=/repo/big bs=1M count=50"]))})
    job = run_commit(repo, sha)
    assert_stopped_by_the_quota(job, docker_client)


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_writing_outside_the_workspace_counts_too(quota, setup, docker_client):
    repo, sha = setup({".herald.yml": pipeline(("fill", ["dd if=/dev/zero of=/tmp/big bs=1M count=50", "sleep 60"]))})
    job = run_commit(repo, sha)
    assert_stopped_by_the_quota(job, docker_client)


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_build_under_the_quota_succeeds(quota, setup, docker_client):
    repo, sha = setup(
        {
            ".herald.yml": pipeline(
                (
                    "write",
                    ["dd if=/dev/zero of=/repo/some bs=1M count=2", "dd if=/dev/zero of=/tmp/more bs=1M count=1"],
                ),
                ("read", ["ls -l /repo/some"]),
            )
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "success", job.reason
    assert job_objects(docker_client, job) == []


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_links_sparse_files_and_hard_links_do_not_fool_it(quota, setup, docker_client, tmp_path):
    big = tmp_path / "big-host-file"
    big.write_bytes(os.urandom(20 * MiB))
    repo, sha = setup(
        {
            # Links of the commit to the worker's disk: /usr and a big file.
            "usr": Symlink("/usr"),
            "big": Symlink(str(big)),
            ".herald.yml": pipeline(
                (
                    "odd",
                    [
                        "ln -s / /repo/root",
                        "dd if=/dev/zero of=/repo/sparse bs=1M count=0 seek=1024",
                        "dd if=/dev/zero of=/repo/linked bs=1M count=3",
                        "for i in 1 2 3 4 5; do ln /repo/linked /repo/linked$i; done",
                        "ls -ls /repo",
                        "sleep 2",
                    ],
                )
            ),
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "success", job.reason
    assert "sparse" in log_of(job)


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_file_hidden_deeper_than_paths_reach_stops_the_build(quota, setup, docker_client):
    deep = "i=0; while [ $i -lt 300 ]; do mkdir dddddddddddddddddd && cd dddddddddddddddddd; i=$((i+1)); done"
    repo, sha = setup(
        {".herald.yml": pipeline(("hide", [f"{deep}; dd if=/dev/zero of=hidden bs=1M count=50", "sleep 60"]))}
    )
    job = run_commit(repo, sha)
    assert job.status == "errored", job.reason
    assert job.reason.startswith("The workspace "), job.reason
    assert job_objects(docker_client, job) == []
    assert not workspace_for(job).exists()


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_writing_into_a_volume_the_image_declares_counts_too(quota, setup, docker_client):
    image = build_image(docker_client, "herald-test/with-volume:latest", f'FROM {TEST_IMAGE}\nVOLUME ["/data"]\n')
    assert image.attrs["Config"]["Volumes"] == {"/data": {}}
    marker = f"quota-{uuid.uuid4().hex}"
    fill = f"dd if=/dev/zero of=/data/{marker} bs=1M count=50"
    repo, sha = setup(
        {".herald.yml": pipeline(("fill", [fill, "sleep 60"])).replace(TEST_IMAGE, "herald-test/with-volume:latest")}
    )
    job = run_commit(repo, sha)
    assert_stopped_by_the_quota(job, docker_client)
    # The anonymous volume went with its container (the meter let go of it first).
    left = [
        v.name
        for v in docker_client.volumes.list(filters={"dangling": True})
        if os.path.exists(os.path.join(v.attrs.get("Mountpoint") or "/nonexistent", marker))
    ]
    assert left == []
