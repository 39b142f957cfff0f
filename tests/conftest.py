import os

import pytest
from django.utils import timezone

from tests.support import (
    TEST_IMAGE,
    GitRepo,
    LiveHerald,
    ensure_test_image,
    remove_instance_objects,
    require_docker,
    sweep_stale_test_objects,
)


@pytest.fixture(autouse=True)
def _postgres_marked_tests_need_postgres(request):
    if request.node.get_closest_marker("postgres") and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.fail(
            "this test needs PostgreSQL: run it with `make test` (or `make test-postgres`), "
            "which starts one, or set DATABASE_URL=postgres://…; deselect with -m 'not postgres'"
        )


@pytest.fixture(scope="session")
def docker_client():
    client = require_docker()
    yield client
    client.close()


@pytest.fixture(scope="session", autouse=True)
def remove_docker_leftovers():
    """Nothing of the test installations stays on the engine: networks
    especially, each holding one of Docker's ~30 default address pools (and
    /var/lib/docker outlives the machine's processes). Before the session,
    what a killed run left; after it, this process's own objects."""
    import docker
    from django.conf import settings

    try:
        docker.from_env(timeout=10).ping()
    except docker.errors.DockerException:
        yield  # tests that need Docker fail on their own, saying what to install
        return
    sweep_stale_test_objects()
    remove_instance_objects(settings.HERALD_INSTANCE, wait=0)
    yield
    remove_instance_objects(settings.HERALD_INSTANCE)


@pytest.fixture(scope="session")
def test_image(docker_client):
    return ensure_test_image(docker_client)


@pytest.fixture(autouse=True)
def herald_settings(settings, tmp_path):
    settings.WORKSPACE_DIR = tmp_path / "workspaces"
    settings.HERALD_ALLOW_LOCAL_CLONES = True
    # The quota's meter (`copy` mode) needs a busybox: the local one, no registry.
    settings.HERALD_QUOTA_IMAGE = TEST_IMAGE
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
def users(db):
    """An owner (admin), a member who may push, a reader, an outsider and staff."""
    from django.contrib.auth.models import User

    class Users:
        pass

    u = Users()
    u.admin = User.objects.create_user("owner", password="pw-owner")
    u.pusher = User.objects.create_user("pusher", password="pw-pusher")
    u.reader = User.objects.create_user("reader", password="pw-reader")
    u.outsider = User.objects.create_user("outsider", password="pw-outsider")
    u.staff = User.objects.create_user("staff", password="pw-staff", is_staff=True)
    return u


@pytest.fixture
def member(db):
    from repositories.models import Membership

    def grant(user, repo, permission):
        Membership.objects.create(user=user, repository=repo, permission=permission)

    return grant


@pytest.fixture
def make_job(db):
    from builds.models import Job

    def make(repository, **kw):
        repository.refresh_from_db()
        number = (
            Job.objects.filter(repository=repository).order_by("-number").values_list("number", flat=True).first() or 0
        ) + 1
        kw.setdefault("commit", f"{number:040x}")
        kw.setdefault("branch", "main")
        kw.setdefault("ref", f"refs/heads/{kw['branch']}")
        kw.setdefault("message", f"change {number}")
        kw.setdefault("author", "Ada Tester")
        job = Job.objects.create(repository=repository, number=number, **kw)
        type(repository).objects.filter(pk=repository.pk).update(job_counter=number)
        return job

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
        herald.stop()  # also removes its Docker objects, after giving them 15 s to go
        assert not herald.left_behind, f"containers left behind: {herald.left_behind}"


def finished(**kw):
    now = timezone.now()
    return {"status": "success", "started_at": now - timezone.timedelta(seconds=42), "finished_at": now, **kw}
