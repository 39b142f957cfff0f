import json
import os
import subprocess
import time

import pytest

from tests.support import GitRepo, LiveHerald, ensure_test_image, require_docker


@pytest.fixture(autouse=True)
def _postgres_marked_tests_need_postgres(request):
    if request.node.get_closest_marker("postgres") and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.fail("this test needs PostgreSQL: run it with `make test` (or `make test-postgres`), "
                    "which starts one, or set DATABASE_URL=postgres://…; deselect with -m 'not postgres'")


@pytest.fixture(scope="session")
def docker_client():
    client = require_docker()
    yield client
    client.close()


@pytest.fixture(scope="session", autouse=True)
def remove_docker_leftovers():
    """After the session: nothing of this installation stays on the engine
    (networks especially: each one takes an address pool)."""
    yield
    from django.conf import settings

    remove_instance_objects(settings.HERALD_INSTANCE)


def remove_instance_objects(instance):
    import docker

    try:
        client = docker.from_env(timeout=30)
    except docker.errors.DockerException:
        return
    label = f"org.herald-ci.instance={instance}"
    for c in client.containers.list(all=True, filters={"label": label}):
        c.remove(force=True, v=True)
    for n in client.networks.list(filters={"label": label}):
        try:
            n.remove()
        except docker.errors.APIError:
            pass
    for v in client.volumes.list(filters={"label": label}):
        try:
            v.remove(force=True)
        except docker.errors.APIError:
            pass
    client.close()


@pytest.fixture(scope="session")
def test_image(docker_client):
    return ensure_test_image(docker_client)


@pytest.fixture(autouse=True)
def herald_settings(settings, tmp_path):
    settings.WORKSPACE_DIR = tmp_path / "workspaces"
    settings.HERALD_ALLOW_LOCAL_CLONES = True
    return settings


@pytest.fixture
def git_repo(tmp_path):
    counter = [0]

    def make(name="src", branch="main"):
        counter[0] += 1
        return GitRepo(tmp_path / f"{name}-{counter[0]}", branch=branch)

    return make


@pytest.fixture
def make_repository(db):
    from repositories.models import Repository

    def make(full_name="acme/widgets", clone_url="https://example.com/acme/widgets.git", **kw):
        kw.setdefault("webhook_secret", "s3cret")
        kw.setdefault("private", False)
        return Repository.objects.create(full_name=full_name, clone_url=clone_url, **kw)

    return make


@pytest.fixture
def live_herald(tmp_path, docker_client, test_image):
    """A started Herald; on teardown, also checks it left no container behind."""
    started = []

    def start(**env):
        herald = LiveHerald(tmp_path / f"live{len(started)}", env=env).start()
        started.append(herald)
        return herald

    yield start
    for herald in started:
        herald.stop()
        instance_file = herald.dir / "data" / "instance_id"
        if instance_file.exists():
            instance = instance_file.read_text().strip()
            # Worker processes' network sandboxes remove themselves once
            # their process is gone: give Docker a moment.
            deadline = time.monotonic() + 15
            while True:
                left = docker_client.containers.list(all=True, filters={"label": f"org.herald-ci.instance={instance}"})
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            remove_instance_objects(instance)
            assert not left, f"containers left behind: {[c.name for c in left]}"
