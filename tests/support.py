"""Test helpers: real git repositories, a locally built image, signed
webhooks, and a whole Herald (server + worker) in subprocesses."""

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from ciproject.env import default_workspace_dir

ROOT = Path(__file__).resolve().parent.parent
FORGES = Path(__file__).resolve().parent / "forges"
TEST_IMAGE = "herald-test/busybox:latest"


# --- Docker ------------------------------------------------------------------


def require_docker():
    """A Docker client, or a loud failure saying what to install."""
    import docker
    import pytest

    try:
        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except Exception as e:
        pytest.fail(
            f"No Docker engine answers ({e}). Install Debian's docker.io and start it "
            "(`make test` does both: scripts/ensure-docker.sh).",
            pytrace=False,
        )


def ensure_test_image(client):
    """herald-test/busybox, built from Debian's busybox-static: no registry."""
    import docker
    import pytest

    try:
        client.images.get(TEST_IMAGE)
        return TEST_IMAGE
    except docker.errors.ImageNotFound:
        pass
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        pytest.fail("busybox is missing: apt-get install busybox-static (make test installs it)", pytrace=False)
    out = subprocess.run(["file", "-L", busybox], capture_output=True, text=True).stdout if shutil.which("file") else ""
    if out and "statically linked" not in out:
        pytest.fail(f"{busybox} is not static: apt-get install busybox-static", pytrace=False)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rootfs"
        for d in ("bin", "tmp", "etc", "root", "repo", "usr/bin"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(busybox, root / "bin" / "busybox")
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            if applet != "busybox":
                (root / "bin" / applet).symlink_to("busybox")
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
        (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        (root / "tmp").chmod(0o1777)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [
                "docker",
                "import",
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "-",
                TEST_IMAGE,
            ],
            stdin=tar.stdout,
            check=True,
            capture_output=True,
        )
        tar.wait()
    return TEST_IMAGE


# --- git -----------------------------------------------------------------------

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd, *args):
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


class Symlink(str):
    """A file of a commit that is a symbolic link to this target."""


class GitRepo:
    """A real repository in a folder, cloned by Herald over file://."""

    def __init__(self, path, branch="main"):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        git(self.path, "init", "-q", "-b", branch)
        self.branch = branch

    @property
    def url(self):
        return f"file://{self.path}"

    def commit(self, files, message="change"):
        for name, content in files.items():
            p = self.path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            if content is None:
                p.unlink(missing_ok=True)
            elif isinstance(content, Symlink):
                p.unlink(missing_ok=True)
                p.symlink_to(content)
            else:
                p.write_text(content) if isinstance(content, str) else p.write_bytes(content)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def checkout(self, branch, create=False):
        git(self.path, "checkout", "-q", *(["-b"] if create else []), branch)

    def tag(self, name):
        git(self.path, "tag", name)
        return git(self.path, "rev-parse", "HEAD")


def herald_yml(*commands, image=TEST_IMAGE):
    lines = "".join(f"  - {json.dumps(c)}\n" for c in commands)
    return f"image: {image}\ncommands:\n{lines}"


# --- webhooks --------------------------------------------------------------------


def fixture(provider, name):
    return json.loads((FORGES / provider / "payloads" / f"{name}.json").read_text())


def github_push(full_name, sha, branch="main", message="Initial commit", base="push__new_branch"):
    """GitHub's documented push payload, pointed at our repository and commit."""
    payload = fixture("github", base)
    payload["ref"] = f"refs/heads/{branch}"
    payload["after"] = sha
    payload["repository"]["full_name"] = full_name
    payload["repository"]["name"] = full_name.split("/")[-1]
    if payload.get("head_commit"):
        payload["head_commit"]["id"] = sha
        payload["head_commit"]["message"] = message
        payload["commits"][-1]["id"] = sha
        payload["commits"][-1]["message"] = message
    return payload


def github_signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(secret, body, event="push", delivery=None):
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": github_signature(secret, body),
        "User-Agent": "GitHub-Hookshot/044aadd",
    }


# --- Docker objects of test installations ------------------------------------------

# Every Herald a test starts names its containers, networks and volumes with an
# instance id starting with this (the label org.herald-ci.instance).
TEST_INSTANCE_PREFIX = "test-"
LABEL_INSTANCE = "org.herald-ci.instance"


def remove_instance_objects(instance, wait=15):
    """Remove an installation's containers, networks and volumes from the
    engine. Each network holds one of Docker's ~30 default address pools
    until it is removed, so a leak here fails later runs' builds ("could not
    find an available, non-overlapping IPv4 address pool"). Waits up to
    `wait` s for containers to go by themselves (worker sandboxes remove
    themselves once their process is gone); returns the names of those that
    had not, after removing them."""
    import docker

    client = docker.from_env(timeout=60)
    label = {"label": f"{LABEL_INSTANCE}={instance}"}
    try:
        deadline = time.monotonic() + wait
        while True:
            left = client.containers.list(all=True, filters=label)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        names = [c.name for c in left]
        for c in left:
            try:
                c.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as e:
                if e.status_code != 409:  # 409: already being removed
                    raise
        problems = []
        for kind in ("networks", "volumes"):
            for obj in getattr(client, kind).list(filters=label):
                for attempt in range(50):
                    try:
                        obj.remove(**({"force": True} if kind == "volumes" else {}))
                        break
                    except docker.errors.NotFound:
                        break
                    except docker.errors.APIError as e:
                        # An endpoint of a container still being removed.
                        if attempt == 49:
                            problems.append(f"{kind[:-1]} {obj.name}: {e.explanation}")
                        time.sleep(0.2)
        if problems:
            raise AssertionError(f"could not remove Docker objects of installation {instance}: {'; '.join(problems)}")
        # Repositories' build caches are tagged by repository id, which a
        # new test database hands out again: an earlier run's cache must not
        # answer for this run's repository 1.
        for image in client.images.list(filters=label):
            for tag in image.tags:
                if tag.startswith(f"herald-{instance}-cache-"):
                    client.images.remove(tag, noprune=True)
        return names
    finally:
        client.close()


def sweep_stale_test_objects(min_age=3600):
    """Remove what test installations left on the engine more than `min_age`
    seconds ago (a run that was killed before its teardown): containers,
    then networks without containers, then volumes, then images of Herald
    made for them. Objects of a run going on beside this one are younger,
    and left alone."""
    import calendar
    import re

    import docker

    def age(created):
        # Docker's RFC 3339 times, with nanoseconds and a zone.
        m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)", created or "")
        if not m:
            return 0
        return time.time() - calendar.timegm(tuple(int(x) for x in m.groups()) + (0, 0, 0))

    def is_test(obj_labels):
        return (obj_labels or {}).get(LABEL_INSTANCE, "").startswith(TEST_INSTANCE_PREFIX)

    client = docker.from_env(timeout=60)
    removed = 0
    try:
        for c in client.containers.list(all=True, filters={"label": LABEL_INSTANCE}):
            if is_test(c.labels) and age(c.attrs.get("Created")) > min_age:
                try:
                    c.remove(force=True, v=True)
                    removed += 1
                except docker.errors.APIError:
                    pass
        for n in client.networks.list(filters={"label": LABEL_INSTANCE}):
            n.reload()
            if (
                is_test(n.attrs.get("Labels"))
                and not n.attrs.get("Containers")
                and age(n.attrs.get("Created")) > min_age
            ):
                try:
                    n.remove()
                    removed += 1
                except docker.errors.APIError:
                    pass
        for v in client.volumes.list(filters={"label": LABEL_INSTANCE}):
            if is_test(v.attrs.get("Labels")) and age(v.attrs.get("CreatedAt")) > min_age:
                try:
                    v.remove()
                    removed += 1
                except docker.errors.APIError:
                    pass
        # Herald's image as tests/e2e/test_compose.py builds it, labelled and
        # tagged for its installation; the layers stay as build cache. (Not
        # builds' cache images: a cache hit tags an image created long ago.)
        for image in client.images.list(filters={"label": LABEL_INSTANCE}):
            if is_test(image.labels) and age(image.attrs.get("Created")) > min_age:
                for tag in image.tags:
                    if not tag.startswith(f"herald-test/herald:{TEST_INSTANCE_PREFIX}"):
                        continue
                    try:
                        client.images.remove(tag, noprune=True)
                        removed += 1
                    except docker.errors.APIError:
                        pass
    finally:
        client.close()
    return removed


# --- a whole Herald in subprocesses ------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_url_for(db_name, options=True):
    base, _, query = os.environ["DATABASE_URL"].partition("?")
    head = base.rpartition("/")[0]
    return f"{head}/{db_name}" + (f"?{query}" if query and options else "")


class LiveHerald:
    """`manage.py serve` (gunicorn + qcluster) on a fresh database, as a
    user runs it; talks to it over HTTP only. `database_url`: a database
    the caller made (and stops and starts) instead."""

    def __init__(self, tmp_path, env=None, worker=True, database_url=None):
        self.worker = worker
        self.dir = Path(tmp_path) / "herald"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HERALD_DATA_DIR": str(self.dir / "data"),
            "HERALD_BASE_URL": self.url,
            "HERALD_ALLOW_LOCAL_CLONES": "1",
            "HERALD_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # Its own queue, should a Redis be shared with other test runs.
            "HERALD_QUEUE_NAME": "herald-test-" + uuid.uuid4().hex[:8],
            # Its Docker objects carry this name: stop() removes them, and a
            # later run sweeps what a killed run left (sweep_stale_test_objects).
            "HERALD_INSTANCE": TEST_INSTANCE_PREFIX + uuid.uuid4().hex[:8],
            **(env or {}),
        }
        self.pg_db = None
        if database_url:
            self.env["DATABASE_URL"] = database_url
        elif os.environ.get("DATABASE_URL", "").startswith("postgres"):
            self.pg_db = "herald_e2e_" + uuid.uuid4().hex[:10]
            self._pg(f"CREATE DATABASE {self.pg_db}")
            self.env["DATABASE_URL"] = _postgres_url_for(self.pg_db)
        else:
            self.env["DATABASE_URL"] = f"sqlite:///{self.dir / 'herald.sqlite3'}"
        self.proc = None
        self.left_behind = []
        self.log_path = self.dir / "serve.log"

    def _pg(self, sql):
        import psycopg

        with psycopg.connect(_postgres_url_for("postgres", options=False), autocommit=True) as conn:
            conn.execute(sql)

    def manage(self, *args, input=None):
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
        )
        if result.returncode:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start(self):
        self.manage("migrate", "--noinput", "-v0")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "serve",
                "--bind",
                f"127.0.0.1:{self.port}",
                *([] if self.worker else ["--no-worker"]),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("herald serve exited:\n" + self.log_path.read_text())
            try:
                if requests.get(self.url + "/api/jobs/0/", timeout=1).status_code in (401, 404):
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError("herald serve did not answer in 60 s:\n" + self.log_path.read_text())

    @property
    def instance(self):
        return self.env["HERALD_INSTANCE"]

    def stop(self, keep_database=False):
        """Stop the server, then remove every Docker object of its
        installation; `left_behind` names the containers that were still
        there (a test's teardown asserts there were none). keep_database:
        a restart follows (start() again); the database stays."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # serve stops its children in order
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)
        if self.proc and self.worker:  # only a worker makes Docker objects
            self.left_behind = remove_instance_objects(self.instance)
            # Its checkouts' folder (outside the data dir, see settings).
            shutil.rmtree(default_workspace_dir(self.instance), ignore_errors=True)
        if self.pg_db and not keep_database:
            for _ in range(20):
                try:
                    self._pg(f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)")
                    break
                except Exception:
                    time.sleep(0.5)

    def add_repo(self, full_name, clone_url, secret="s3cret", provider="github", public=True):
        args = ["addrepo", full_name, "--clone-url", clone_url, "--provider", provider, "--secret", secret]
        if public:
            args.append("--public")
        return self.manage(*args)

    def post(self, path, body, headers):
        return requests.post(self.url + path, data=body, headers=headers, timeout=30)

    def push_github(self, full_name, sha, secret="s3cret", branch="main", message="change", delivery=None):
        body = json.dumps(github_push(full_name, sha, branch=branch, message=message)).encode()
        return self.post("/webhooks/github/", body, github_headers(secret, body, delivery=delivery))

    def get_json(self, path):
        r = requests.get(self.url + path, timeout=10)
        r.raise_for_status()
        return r.json()

    def job(self, job_id):
        r = requests.get(f"{self.url}/api/jobs/{job_id}/", timeout=10)
        r.raise_for_status()
        return r.json()

    def wait_job(
        self, job_id, statuses=("success", "failed", "errored", "cancelled", "timed_out", "skipped"), timeout=90
    ):
        deadline = time.monotonic() + timeout
        job = None
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in statuses:
                return job
            time.sleep(0.1)
        raise AssertionError(
            f"job {job_id} still {job and job['status']} after {timeout} s\n" + self.log_path.read_text()[-5000:]
        )

    def log_text(self, job_id):
        return requests.get(f"{self.url}/jobs/{job_id}/log.txt", timeout=30).text
