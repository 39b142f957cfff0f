"""Worker machines on one machine: `manage.py qcluster` with a name, labels
and a workspace folder of its own (Machine), and a second Docker engine
standing for another machine's (SecondEngine): its own dockerd with its own
data root, exec root, pidfile, socket and bridge.

A second daemon must leave the first one's networking alone: on the
default `docker0` it would delete that bridge when it stops, and so would
`--bridge=none`, at once (dockerd removes docker0 when told to have no
default bridge) — either breaks the first engine's builds. So it gets a
bridge of its own, made here with `ip link` on an address of its own pool
(`--bridge=<it>`), no rules in the host's tables (`--iptables=false`,
`--ip6tables=false`, `--ip-masq=false`) and that pool for the networks
Herald makes on it. It has no images: the test image
is copied into it from the first engine (`docker save | docker load`).
Stopped, and its directories removed, whatever happened (`with`).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker

from tests.support import ROOT, TEST_IMAGE

# Well away from Docker's default pools (172.17-31.x, 192.168.x): the
# engine's own bridge takes the first /24, its networks the others.
BRIDGE_ADDRESS = "10.213.0.1/24"
ADDRESS_POOL = "base=10.213.0.0/16,size=24"


class SecondEngine:
    def __init__(self, base=None):
        # A socket path must stay under 108 bytes: a short folder of its own.
        self.dir = Path(base or "/var/tmp") / f"herald-dockerd-{uuid.uuid4().hex[:8]}"
        self.socket = self.dir / "docker.sock"
        self.bridge = f"hd-{self.dir.name[-8:]}"  # an interface name: at most 15 bytes
        self.host = f"unix://{self.socket}"
        self.proc = None
        self.client = None

    def start(self, images=(TEST_IMAGE,)):
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        if os.geteuid() != 0 or not os.path.exists(dockerd):
            raise RuntimeError(
                "a second Docker engine needs root and dockerd (apt-get install docker.io): "
                "it stands for another worker machine's"
            )
        self.dir.mkdir(parents=True)
        for command in (
            ["ip", "link", "add", self.bridge, "type", "bridge"],
            ["ip", "addr", "add", BRIDGE_ADDRESS, "dev", self.bridge],
            ["ip", "link", "set", self.bridge, "up"],
        ):
            subprocess.run(command, check=True, capture_output=True)
        self._log = open(self.dir / "dockerd.log", "w")
        self.proc = subprocess.Popen(
            [
                dockerd,
                f"--data-root={self.dir / 'data'}",
                f"--exec-root={self.dir / 'exec'}",
                f"--pidfile={self.dir / 'dockerd.pid'}",
                f"--host={self.host}",
                f"--bridge={self.bridge}",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                f"--default-address-pool={ADDRESS_POOL}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("the second dockerd exited:\n" + self.log())
            try:
                self.client = docker.DockerClient(base_url=self.host, timeout=120)
                self.client.ping()
                break
            except docker.errors.DockerException:
                if time.monotonic() > deadline:
                    raise RuntimeError("the second dockerd did not answer in 60 s:\n" + self.log()) from None
                time.sleep(0.3)
        for image in images:
            save = subprocess.Popen(
                ["docker", "-H", "unix:///var/run/docker.sock", "save", image], stdout=subprocess.PIPE
            )
            subprocess.run(
                ["docker", "-H", self.host, "load", "-q"], stdin=save.stdout, check=True, capture_output=True
            )
            save.wait()
        return self

    def log(self):
        return (self.dir / "dockerd.log").read_text(errors="replace")

    def stop(self):
        """Remove everything on it, stop it, remove its folders."""
        if self.client is not None:
            try:
                for c in self.client.containers.list(all=True):
                    c.remove(force=True, v=True)
                for n in self.client.networks.list():
                    if n.name not in ("host", "none", "bridge"):
                        n.remove()
                self.client.volumes.prune()
            except docker.errors.DockerException:
                pass
            self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc is not None:
            self._log.close()
        # Its containerd and shims go with it; their mounts under the data
        # root too. What is still mounted there (a killed daemon) is unmounted.
        for mount in sorted(_mounts_under(self.dir), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class Machine:
    """`manage.py qcluster` as a worker machine runs it: its name, labels,
    workspace folder and Docker engine."""

    def __init__(self, herald, name, labels, docker_host, tmp_path, concurrency=2):
        self.name, self.docker_host = name, docker_host
        self.workspaces = tmp_path / f"workspaces-{name}"
        self.log_path = tmp_path / f"qcluster-{name}.log"
        self._log = open(self.log_path, "w")
        env = {
            **herald.env,
            "HERALD_HOSTNAME": name,
            "HERALD_WORKER_LABELS": labels,
            "HERALD_WORKSPACE_DIR": str(self.workspaces),
            "HERALD_CONCURRENCY": str(concurrency),
        }
        if docker_host:
            env["DOCKER_HOST"] = docker_host
        else:
            env.pop("DOCKER_HOST", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self):
        """The machine dies: its whole cluster, at once."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        self.kill()
        self._log.close()


def _mounts_under(path):
    prefix = str(path) + "/"
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(prefix)]


def ran_on(client, instance, job_id, since):
    """Names of the step containers of a Herald job that an engine started
    since `since` (its events: the containers are gone by now)."""
    events = client.events(
        since=int(since),
        until=int(time.time()) + 1,
        decode=True,
        filters={
            "type": "container",
            "event": "start",
            "label": [f"org.herald-ci.instance={instance}", f"org.herald-ci.job={job_id}"],
        },
    )
    return [e["Actor"]["Attributes"].get("name") for e in events]
