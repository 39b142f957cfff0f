"""Herald's Dockerfile and docker-compose.yml, for real: the image is built
(its dependency list installed on a fresh Debian), the stack started, and a
signed push goes through it to a successful build.

No image registry is reachable where the tests run, so the Dockerfile's base,
debian:bookworm-slim, is made here with debootstrap and `docker import` (kept
on the engine afterwards, as herald-test/busybox is: a later run finds it),
PostgreSQL and Redis are images built on it from Debian's packages
(compose/compose.test.yml swaps them in), and pip gets the locked wheels from
a folder this test fills on the host and serves to the build — the
Dockerfile's documented PIP_* build arguments, which is also how a mirror
would be used.
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
import pytest
import requests

from ciproject import __version__
from tests.support import (
    LABEL_INSTANCE,
    ROOT,
    TEST_INSTANCE_PREFIX,
    GitRepo,
    free_port,
    github_headers,
    github_push,
    herald_yml,
    remove_instance_objects,
)

pytestmark = [pytest.mark.compose, pytest.mark.e2e, pytest.mark.docker]

BASE_IMAGE = "debian:bookworm-slim"  # the Dockerfile's FROM
SUITE = "bookworm"
HERE = Path(__file__).resolve().parent / "compose"
POSTGRES_IMAGE = "herald-test/compose-postgres:latest"
REDIS_IMAGE = "herald-test/compose-redis:latest"

# What debian:bookworm-slim leaves out and cleans up (debuerreotype's --slim
# and its apt settings), so the size measured here is the real base's.
SLIM_DPKG_CFG = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
"""


SLIM_APT_CONF = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
"""


def compose_command():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.fail(
        "Neither docker-compose nor Docker's Compose plugin is installed: apt-get install docker-compose "
        "(make test installs it: scripts/bootstrap.sh test)",
        pytrace=False,
    )


def debian_mirror():
    """The Debian archive this machine's apt uses (deb822 or one-line
    sources), else deb.debian.org; HERALD_TEST_DEBIAN_MIRROR overrides."""
    if os.environ.get("HERALD_TEST_DEBIAN_MIRROR"):
        return os.environ["HERALD_TEST_DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        if path.suffix not in (".list", ".sources") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M):
            if uri.rstrip("/").endswith("/debian"):
                return uri
    return "http://deb.debian.org/debian"


def ensure_base_image(client):
    """debian:bookworm-slim: the engine's if it has one, else debootstrapped
    here (about half a minute) and imported under that name."""
    try:
        client.images.get(BASE_IMAGE)
        return
    except docker.errors.ImageNotFound:
        pass
    if os.geteuid() != 0:
        pytest.fail(f"Making {BASE_IMAGE} with debootstrap needs root: run the test as root", pytrace=False)
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(debootstrap):
        pytest.fail("debootstrap is missing: apt-get install debootstrap (make test installs it)", pytrace=False)
    with tempfile.TemporaryDirectory(prefix="herald-debootstrap-") as tmp:
        root = Path(tmp) / "rootfs"
        (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True)
        (root / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text(SLIM_DPKG_CFG)
        (root / "etc/apt/apt.conf.d").mkdir(parents=True)
        (root / "etc/apt/apt.conf.d/docker-clean").write_text(SLIM_APT_CONF)
        done = subprocess.run(
            [debootstrap, "--variant=minbase", SUITE, str(root), debian_mirror()],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            pytest.fail(f"debootstrap failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}", pytrace=False)
        # The downloads, and what the slim settings keep out of packages
        # installed later (debootstrap's first packages are unpacked without them).
        for pattern in (
            "var/cache/apt/*.bin",
            "var/cache/apt/archives/*.deb",
            "var/lib/apt/lists/*_*",
            "usr/share/doc/*",
            "usr/share/info/*",
            "usr/share/man/*",
            "usr/share/locale/*",
        ):
            for path in root.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [
                "docker",
                "import",
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--change",
                'CMD ["bash"]',
                "-",
                BASE_IMAGE,
            ],
            stdin=tar.stdout,
            check=True,
            capture_output=True,
        )
        tar.wait()


def build_image(path, tag, network, labels=None, buildargs=None):
    """docker build, its output kept for the failure message."""
    api = docker.from_env(timeout=900).api
    lines = []
    try:
        for chunk in api.build(
            path=str(path),
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            labels=labels,
            buildargs=buildargs,
            network_mode=network,
        ):
            if "stream" in chunk:
                lines.append(chunk["stream"])
            if "error" in chunk:
                pytest.fail(f"docker build of {tag} failed: {chunk['error']}\n{''.join(lines)[-6000:]}", pytrace=False)
    finally:
        api.close()


@pytest.fixture
def instance():
    """The test installation's name: everything it makes on the engine carries
    it (a run killed before its teardown is swept by a later one)."""
    return TEST_INSTANCE_PREFIX + uuid.uuid4().hex[:8]


@pytest.fixture
def build_network(docker_client, instance):
    """A bridge of the test's own for the image builds' RUN steps: they
    reach Debian's mirror through it, and the wheelhouse on its gateway."""
    network = docker_client.networks.create(
        f"herald-{instance}-build", driver="bridge", labels={LABEL_INSTANCE: instance}
    )
    network.reload()
    yield network.name, network.attrs["IPAM"]["Config"][0]["Gateway"]
    try:
        network.remove()
    except docker.errors.NotFound:
        pass  # the test's teardown removed it with the rest


@pytest.fixture
def wheelhouse(tmp_path, build_network):
    """requirements.lock's wheels, downloaded here (checked against their
    hashes) and served over HTTP on the build network's gateway, where the
    build's RUN steps reach it: pip's settings, as the build's arguments."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            *(str(ROOT / ".venv/bin/python"), "-m", "pip", "download", "-q"),
            *("--disable-pip-version-check", "--require-hashes", "--only-binary=:all:", "--no-deps"),
            *("-r", str(ROOT / "requirements.lock"), "-d", str(wheels)),
        ],
        check=True,
        capture_output=True,
    )
    gateway = build_network[1]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((gateway, 0), functools.partial(Quiet, directory=str(wheels)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": f"http://{gateway}:{server.server_address[1]}/",
        "PIP_TRUSTED_HOST": gateway,  # plain HTTP, on the test's own bridge
    }
    server.shutdown()
    server.server_close()


class Stack:
    """One docker-compose project: docker-compose.yml with the test's
    override, its own names, port, secrets and instance label."""

    def __init__(self, tmp_path, image, instance, test_image):
        self.project = instance
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secrets = tmp_path / "secrets"
        self.git_dir = tmp_path / "git"
        self.git_dir.mkdir()
        self.command = [
            *compose_command(),
            *("-p", self.project, "-f", str(ROOT / "docker-compose.yml"), "-f", str(HERE / "compose.test.yml")),
        ]
        self.env = {
            **os.environ,
            "HERALD_IMAGE": image,
            "HERALD_INSTANCE": instance,
            "HERALD_PORT": str(self.port),
            "HERALD_BASE_URL": self.url,
            "HERALD_SECRETS_DIR": str(self.secrets),
            "HERALD_TEST_GIT_DIR": str(self.git_dir),
            "HERALD_TEST_POSTGRES_IMAGE": POSTGRES_IMAGE,
            "HERALD_TEST_REDIS_IMAGE": REDIS_IMAGE,
            "HERALD_TEST_IMAGE": test_image,
        }

    def compose(self, *args, check=True, timeout=300):
        done = subprocess.run(
            [*self.command, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode:
            raise AssertionError(f"docker-compose {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def container(self, client, service):
        found = client.containers.list(
            all=True,
            filters={"label": [f"com.docker.compose.project={self.project}", f"com.docker.compose.service={service}"]},
        )
        assert len(found) == 1, f"{service}: {found}"
        return found[0]

    def logs(self):
        return self.compose("logs", "--no-color", "--tail", "80", check=False, timeout=60)


def wait_healthy(client, stack, timeout=240):
    """Until the web container's health check (GET /readyz) says healthy."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        web = stack.container(client, "web")
        state = web.attrs["State"]
        if state["Status"] in ("exited", "dead") or state.get("Health", {}).get("Status") == "healthy":
            break
        time.sleep(1)
    assert state and state.get("Health", {}).get("Status") == "healthy", f"web: {state}\n{stack.logs()}"


def wait_job(stack, job_id, timeout=180):
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = requests.get(f"{stack.url}/api/jobs/{job_id}/", timeout=10).json()
        if job["finished_at"]:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {job and job['status']} after {timeout} s\n{stack.logs()}")


def test_a_signed_push_builds_to_success_through_the_compose_stack(
    tmp_path, docker_client, test_image, instance, build_network, wheelhouse
):
    started = time.monotonic()
    ensure_base_image(docker_client)
    network = build_network[0]
    image = f"herald-test/herald:{instance}"
    labels = {LABEL_INSTANCE: instance}
    stack = Stack(tmp_path, image, instance, test_image)
    try:
        build_image(HERE / "postgres", POSTGRES_IMAGE, network)
        build_image(HERE / "redis", REDIS_IMAGE, network)
        build_image(ROOT, image, network, labels=labels, buildargs=wheelhouse)
        # The image runs any manage.py command.
        said = docker_client.containers.run(
            image,
            ["shell", "-v0", "-c", "from ciproject import __version__; print(__version__)"],
            remove=True,
            labels=labels,
        )
        assert said.decode().strip() == __version__
        size = docker_client.images.get(image).attrs["Size"]
        print(f"\nHerald's image: {size / 1e6:.0f} MB; built in {time.monotonic() - started:.0f} s")

        subprocess.run([ROOT / "scripts/compose-secrets.sh", stack.secrets], check=True, capture_output=True)
        admin_password = (stack.secrets / "admin_password").read_text().strip()
        src = GitRepo(stack.git_dir / "widgets")
        sha = src.commit({".herald.yml": herald_yml("echo built-by-compose", image=test_image)}, "works")

        stack.compose("up", "-d", "--no-build")
        wait_healthy(docker_client, stack)
        ready = requests.get(f"{stack.url}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text
        assert ready.json()["version"] == __version__

        # The web server is not root; the first admin came from the secret file.
        assert stack.compose("exec", "-T", "web", "id", "-u").strip() != "0"
        web_log = stack.compose("logs", "--no-color", "web")
        assert "Created the admin account 'admin'" in web_log and admin_password not in web_log
        session = requests.Session()
        session.get(f"{stack.url}/login/", timeout=10)
        signed_in = session.post(
            f"{stack.url}/login/",
            data={
                "username": "admin",
                "password": admin_password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.status_code == 302, signed_in.text[:500]

        stack.compose(
            *("exec", "-T", "web", "python", "manage.py", "addrepo", "acme/widgets"),
            *("--clone-url", "file:///srv/git/widgets", "--secret", "s3cret", "--public"),
        )
        body = json.dumps(github_push("acme/widgets", sha, message="works")).encode()
        r = requests.post(
            f"{stack.url}/webhooks/github/", data=body, headers=github_headers("s3cret", body), timeout=30
        )
        assert r.status_code == 202, r.text
        job = wait_job(stack, r.json()["jobs"][0])
        log = requests.get(f"{stack.url}/jobs/{job['id']}/log.txt", timeout=30).text
        assert job["status"] == "success", f"{job}\n{log}\n{stack.logs()}"
        assert "built-by-compose" in log and job["commit"] == sha
        print(f"Whole test: {time.monotonic() - started:.0f} s")
    finally:
        stack.compose("down", "-v", "--remove-orphans", "--timeout", "30", check=False, timeout=300)
        left = remove_instance_objects(instance, wait=0)
        try:
            # noprune: the layers stay as the next run's build cache.
            docker_client.images.remove(image, noprune=True)
        except docker.errors.ImageNotFound:
            pass
    assert not left, f"docker-compose down left containers behind: {left}"
