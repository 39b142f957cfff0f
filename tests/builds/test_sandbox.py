"""The per-worker network sandbox: steps of jobs without services join its
network namespace on the isolated build bridge, and it goes away with the
worker process that made it, even one killed with SIGKILL."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings

from tests.builds.helpers import log_of, run_commit
from tests.support import ROOT, herald_yml

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def sandboxes(client, pid=None):
    labels = [f"org.herald-ci.instance={settings.HERALD_INSTANCE}", "org.herald-ci.role=sandbox"]
    if pid:
        labels.append(f"org.herald-ci.pid={pid}")
    return client.containers.list(all=True, filters={"label": labels})


def test_steps_without_services_run_in_this_workers_sandbox(git_repo, make_repository, test_image, docker_client):
    src = git_repo()
    # The step prints its own network namespace; the sandbox's must match.
    sha = src.commit({".herald.yml": herald_yml("readlink /proc/self/ns/net")})
    job = run_commit(make_repository("acme/widgets", clone_url=src.url), sha)
    assert job.status == "success", log_of(job)
    (sandbox,) = sandboxes(docker_client, pid=os.getpid())
    assert sandbox.status == "running"
    networks = sandbox.attrs["NetworkSettings"]["Networks"]
    assert list(networks) == [f"herald-{settings.HERALD_INSTANCE}-isolated"]
    ns = sandbox.exec_run(["readlink", "/proc/1/ns/net"]).output.decode().strip()
    assert ns and f"\n{ns}\n" in log_of(job)
    # A second job reuses it.
    again = run_commit(make_repository("acme/other", clone_url=src.url), sha)
    assert again.status == "success" and f"\n{ns}\n" in log_of(again)
    assert len(sandboxes(docker_client, pid=os.getpid())) == 1


def test_the_sandbox_goes_away_with_its_process_even_after_sigkill(test_image, docker_client, tmp_path):
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        os.environ["DJANGO_SETTINGS_MODULE"] = "ciproject.settings"
        import django; django.setup()
        from builds.docker.client import shared_client
        from builds.docker.network import network_sandbox
        print(network_sandbox(shared_client(), {test_image!r}), flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "HERALD_DATA_DIR": str(settings.DATA_DIR)},
    )
    try:
        sandbox_id = proc.stdout.readline().strip()
        assert sandbox_id, "the sandbox did not start"
        assert docker_client.containers.get(sandbox_id).status == "running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 15
        while sandboxes(docker_client, pid=proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sandboxes(docker_client, pid=proc.pid) == [], "the sandbox outlived its worker"
    finally:
        if proc.poll() is None:
            proc.kill()
