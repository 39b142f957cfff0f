"""Containment, as `docker inspect` shows it while a step runs: no
privileges, capabilities dropped, no-new-privileges, memory/CPU/pids
limits, no Docker socket, a network of the job's own, labels."""

import threading
import time

import pytest
from django.conf import settings as django_settings

from tests.builds.helpers import job_objects, log_of, run_commit
from tests.support import TEST_IMAGE

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


class Inspector(threading.Thread):
    """Waits (Docker only, no database) for the job's step container,
    inspects it and its service, then lets the step finish."""

    def __init__(self, client, instance):
        super().__init__(daemon=True)
        self.client = client
        self.instance = instance
        self.seen = {}
        self.error = None

    def run(self):
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                found = self.client.containers.list(
                    filters={"label": [f"org.herald-ci.instance={self.instance}", "org.herald-ci.role=step"]}
                )
                if found:
                    step = found[0]
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("no step container appeared")
            self.seen["step"] = self.client.api.inspect_container(step.id)
            job_id = step.labels["org.herald-ci.job"]
            (service,) = self.client.containers.list(
                filters={
                    "label": [
                        f"org.herald-ci.instance={self.instance}",
                        f"org.herald-ci.job={job_id}",
                        "org.herald-ci.role=service",
                    ]
                }
            )
            self.seen["service"] = self.client.api.inspect_container(service.id)
            net = self.seen["step"]["HostConfig"]["NetworkMode"]
            self.seen["network"] = self.client.api.inspect_network(net)
            step.exec_run(["touch", "/tmp/inspected"])
        except Exception as e:  # reported by the test
            self.error = e


def test_build_and_service_containers_are_contained(git_repo, make_repository, test_image, docker_client, settings):
    settings.HERALD_MEMORY_LIMIT = 256 * 1024 * 1024
    settings.HERALD_CPUS = 0.5
    settings.HERALD_PIDS_LIMIT = 64
    src = git_repo()
    sha = src.commit(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
timeout: 2m
services:
  side: {{image: {TEST_IMAGE}, command: [sleep, "600"]}}
steps:
  - name: wait-for-inspection
    commands:
      - "for i in $(seq 1 600); do [ -e /tmp/inspected ] && break; sleep 0.1; done"
      - "grep -E '^(NoNewPrivs|CapEff)' /proc/self/status"
      - "ls -la /var/run/docker.sock || echo no-docker-socket"
"""
        }
    )
    repo = make_repository("acme/widgets", clone_url=src.url)
    inspector = Inspector(docker_client, django_settings.HERALD_INSTANCE)
    inspector.start()
    job = run_commit(repo, sha)
    inspector.join(10)
    assert inspector.error is None, inspector.error
    text = log_of(job)
    assert job.status == "success", text

    for role in ("step", "service"):
        info = inspector.seen[role]
        host = info["HostConfig"]
        assert host["Privileged"] is False
        assert host["CapDrop"] == ["ALL"]
        assert sorted(c.removeprefix("CAP_") for c in host["CapAdd"]) == sorted(django_settings.HERALD_CAP_ADD)
        assert "SYS_ADMIN" not in str(host["CapAdd"]) and "NET_RAW" not in str(host["CapAdd"])
        assert any(o.startswith("no-new-privileges") for o in host["SecurityOpt"])
        assert host["Memory"] == 256 * 1024 * 1024 and host["MemorySwap"] == 256 * 1024 * 1024
        assert host["NanoCpus"] == 500_000_000
        assert host["PidsLimit"] == 64
        # dockerd's own copy of the output is bounded (Herald's is capped).
        assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "1", "max-size": "10m"}}
        assert "docker.sock" not in str(info["Mounts"]) and "docker.sock" not in str(host.get("Binds"))
        assert host["NetworkMode"] == f"herald-{django_settings.HERALD_INSTANCE}-job-{job.pk}"
        labels = info["Config"]["Labels"]
        assert labels["org.herald-ci.job"] == str(job.pk)
        assert labels["org.herald-ci.worker"] == django_settings.HERALD_HOSTNAME
    # The only mount: the job's workspace volume (nothing of the host).
    mounts = inspector.seen["step"]["Mounts"]
    assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [
        ("volume", f"herald-{django_settings.HERALD_INSTANCE}-job-{job.pk}-workspace", "/repo")
    ]
    assert inspector.seen["service"]["Mounts"] == []
    assert inspector.seen["network"]["Labels"]["org.herald-ci.job"] == str(job.pk)
    assert set(inspector.seen["network"]["Containers"]) == {
        inspector.seen["step"]["Id"],
        inspector.seen["service"]["Id"],
    }
    # Seen from inside, too.
    assert "NoNewPrivs:\t1" in text and "no-docker-socket" in text
    assert job_objects(docker_client, job) == []


def test_the_memory_limit_stops_a_greedy_step(git_repo, make_repository, test_image, settings):
    settings.HERALD_MEMORY_LIMIT = 32 * 1024 * 1024
    src = git_repo()
    sha = src.commit(
        {
            ".herald.yml": f"image: {TEST_IMAGE}\ncommands:\n"
            "  - x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived\n"
        }
    )
    job = run_commit(make_repository("acme/widgets", clone_url=src.url), sha)
    assert job.status == "failed", log_of(job)
    assert job.reason == "Step build ran out of memory"
    assert "survived" not in log_of(job).replace("echo survived", "")


def test_the_pids_limit_stops_a_fork_bomb(git_repo, make_repository, test_image, settings):
    settings.HERALD_PIDS_LIMIT = 20
    src = git_repo()
    sha = src.commit(
        {
            ".herald.yml": f"image: {TEST_IMAGE}\ncommands:\n"
            "  - for i in $(seq 1 60); do sleep 30 & done; echo all-forked\n"
        }
    )
    job = run_commit(make_repository("acme/widgets", clone_url=src.url), sha)
    text = log_of(job)
    assert job.status == "failed", text
    assert "all-forked" not in text.replace("echo all-forked", "")
    assert "can't fork" in text
