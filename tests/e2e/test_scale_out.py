"""Scale-out as a user runs it (issue 14 §6): one web server, PostgreSQL
and Redis, and two worker "machines" — two `manage.py qcluster`s with their
own names, labels and workspace folders, each beside its own Docker engine
(the second a dockerd of its own, tests/dockerd.py).

Builds are routed by label and run on the right engine (its events show
the step container started there, and not on the other); a worker machine
killed outright mid-build loses its job to the reaper, which requeues it,
and the other machine finishes it.
"""

import re
import time

import pytest
import requests

from tests.dockerd import Machine, SecondEngine, ran_on
from tests.e2e.test_redis_e2e import redis_url  # noqa: F401 - the fixture
from tests.support import TEST_IMAGE, LiveHerald, remove_instance_objects

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.postgres]


def wait_for(what, check, timeout, why=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s\n{why()}")


@pytest.fixture
def installation(tmp_path, docker_client, test_image, redis_url):  # noqa: F811
    """The web server, a first machine on this engine and a second on an
    engine of its own; everything stopped and removed afterwards."""
    try:
        engine = SecondEngine().start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    web = machines = None
    try:
        web = LiveHerald(
            tmp_path / "web",
            worker=False,
            env={"HERALD_REDIS_URL": redis_url, "HERALD_WORKER_LOST_SECONDS": "5"},
        ).start()
        machines = {
            "build-1": Machine(web, "build-1", "big", None, tmp_path),
            "build-2": Machine(web, "build-2", "gpu", engine.host, tmp_path),
        }
        yield web, machines, engine
    finally:
        for m in (machines or {}).values():
            m.stop()
        if web is not None:
            web.stop()
            remove_instance_objects(web.instance, wait=0)
        engine.stop()


def push(web, src, files, branch):
    src.checkout(branch, create=not _has_branch(src, branch))
    sha = src.commit(files, f"build on {branch}")
    r = web.push_github("acme/widgets", sha, branch=branch)
    assert r.status_code == 202, r.text
    return r.json()["jobs"][0]


def _has_branch(src, branch):
    return (src.path / ".git" / "refs" / "heads" / branch).exists()


def test_two_worker_machines_route_by_label_and_survive_one_dying(installation, git_repo, docker_client):
    web, machines, engine = installation
    src = git_repo()
    src.commit({"README": "widgets\n"})
    web.add_repo("acme/widgets", src.url)
    since = time.time() - 1
    online = wait_for(
        "both machines online", lambda: len(_online(web)) == 2 and _online(web), 60, machines["build-2"].log
    )
    # The dashboard shows each machine's labels.
    assert "big" in online["build-1"] and "gpu" in online["build-2"] and "os:linux" in online["build-2"]

    gpu = push(web, src, {".herald.yml": f"image: {TEST_IMAGE}\nruns_on: [gpu]\ncommands: [echo on-gpu]\n"}, "gpu")
    big = push(web, src, {".herald.yml": f"image: {TEST_IMAGE}\nruns_on: [big]\ncommands: [echo on-big]\n"}, "big")
    job_gpu, job_big = web.wait_job(gpu), web.wait_job(big)
    assert (job_gpu["status"], job_gpu["worker"]) == ("success", "build-2"), web.log_text(gpu)
    assert (job_big["status"], job_big["worker"]) == ("success", "build-1"), web.log_text(big)
    assert "on-gpu" in web.log_text(gpu) and "on-big" in web.log_text(big)
    # Each ran on its machine's engine, and only there.
    assert ran_on(engine.client, web.instance, gpu, since) and not ran_on(docker_client, web.instance, gpu, since)
    assert ran_on(docker_client, web.instance, big, since) and not ran_on(engine.client, web.instance, big, since)

    # A label nobody has: the page says so, and the builds behind it go past.
    cuda = push(web, src, {".herald.yml": f"image: {TEST_IMAGE}\nruns_on: [cuda]\ncommands: [echo never]\n"}, "cuda")
    waiting = wait_for(
        "the explanation",
        lambda: [r for r in _waiting(web, cuda) if "cuda" in r],
        60,
        lambda: str(web.job(cuda)),
    )
    assert waiting[0].startswith("No online worker has the label cuda (online: build-1 [")
    assert "build-2 [arch:" in waiting[0] and "gpu" in waiting[0]
    # Predicted from the last pipeline read (big's or gpu's: the two builds
    # ran at once), it went to that machine, which read the file and handed it back.
    assert re.search(r"Handed back by build-[12]: its runs_on: asks for the label cuda", web.log_text(cuda))

    # Mid-build, the machine running it dies outright.
    sleepy = (
        f"image: {TEST_IMAGE}\ncommands:\n"
        '  - echo "attempt $HERALD_ATTEMPT on $(hostname)"\n'
        '  - if [ "$HERALD_ATTEMPT" = 1 ]; then sleep 600; fi\n'
        "  - echo done\n"
    )
    long = push(web, src, {".herald.yml": sleepy}, "main")
    wait_for("the first attempt", lambda: "attempt 1 on" in web.log_text(long), 90, lambda: str(web.job(long)))
    first = web.job(long)["worker"]
    other = "build-1" if first == "build-2" else "build-2"
    machines[first].kill()
    job = web.wait_job(long, timeout=120)
    assert (job["status"], job["worker"]) == ("success", other), web.log_text(long)
    log = web.log_text(long)
    assert "Worker lost: " + first in log and "attempt 2 on" in log and "done" in log
    other_engine = engine.client if other == "build-2" else docker_client
    first_engine = docker_client if other == "build-2" else engine.client
    # The second attempt on the other machine's engine, the first on the dead one's.
    assert ran_on(other_engine, web.instance, long, since) and ran_on(first_engine, web.instance, long, since)
    assert web.job(cuda)["status"] == "queued"


def _online(web):
    """The worker hosts the dashboard shows online, with their labels."""
    html = requests.get(web.url + "/", timeout=10).text
    return {
        h: html.split(f"{h} · ", 1)[1].split("</span></span>", 1)[0]
        for h in ("build-1", "build-2")
        if f"{h} · " in html
    }


def _waiting(web, job_id):
    return requests.get(f"{web.url}/api/jobs/{job_id}/log/lines?count=0", timeout=10).json()["waiting"]
