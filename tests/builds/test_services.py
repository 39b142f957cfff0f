"""Services: sidecar containers on the job's own network, reachable by name
from every step, invisible to other jobs, gone when the job ends."""

import pytest
from django.conf import settings

from tests.builds.helpers import ensure_service_image, job_objects, log_of, run_commit, steps_of
from tests.support import TEST_IMAGE

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

# busybox wget is unreliable in a static build; a raw HTTP request over nc is not.
FETCH = (
    "for i in $(seq 1 50); do "
    "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} {port} > /tmp/out 2>/dev/null && "
    "grep -q hello /tmp/out && break; sleep 0.2; done; tail -n 1 /tmp/out"
)


@pytest.fixture
def setup(git_repo, make_repository, test_image, docker_client):
    service_image = ensure_service_image(docker_client)

    def make(files):
        src = git_repo()
        sha = src.commit(files)
        return make_repository("acme/widgets", clone_url=src.url), sha, service_image

    return make


def test_services_are_reachable_by_name_from_every_step(setup, docker_client):
    service_image = ensure_service_image(docker_client)
    fetch_web = FETCH.format(host="web", port=80)
    fetch_alt = FETCH.format(host="alt", port=8080)
    src_files = {
        ".herald.yml": f"""\
image: {TEST_IMAGE}
services:
  web: {{image: {service_image}}}
  alt: {{image: {service_image}, command: "httpd -f -p 8080 -h /www", env: {{UNUSED: "1"}}}}
steps:
  - name: first
    commands: ["{fetch_web}"]
  - name: second
    commands: ["{fetch_alt}", "{fetch_web}"]
"""
    }
    repo, sha, _ = setup(src_files)
    job = run_commit(repo, sha)
    text = log_of(job)
    assert job.status == "success", text
    assert "Service web started" in text and "Service alt started" in text
    assert text.count("hello-from-the-service\n") == 3
    assert steps_of(job) == [("first", "success", 0), ("second", "success", 0)]
    assert job_objects(docker_client, job) == []


def test_a_service_that_dies_is_reported_in_the_log(setup):
    repo, sha, _ = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
services:
  db: {{image: {TEST_IMAGE}, command: [sh, -c, "echo db-cannot-start >&2; exit 3"]}}
steps:
  - name: test
    commands: ["sleep 1", "nc -w 1 db 5432 < /dev/null"]
"""
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "failed"
    text = log_of(job)
    assert "Service db exited with code 3; its last lines:" in text
    assert "db-cannot-start" in text


def test_a_service_whose_image_is_missing_errors_the_job(setup, settings):
    settings.HERALD_PULL_POLICY = "never"
    repo, sha, _ = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
services:
  db: {{image: herald-test/no-such-db:1}}
steps:
  - name: test
    commands: [true]
  - name: report
    always: true
    commands: [true]
"""
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "errored"
    assert "herald-test/no-such-db:1 is not on the worker" in job.reason
    assert steps_of(job) == [("test", "skipped", None), ("report", "skipped", None)]


def test_jobs_cannot_reach_each_others_containers(setup, docker_client):
    # Another job's service, on that job's network (as Herald makes them).
    labels = {"org.herald-ci.instance": settings.HERALD_INSTANCE, "org.herald-ci.job": "999999"}
    net = docker_client.networks.create(f"herald-{settings.HERALD_INSTANCE}-job-999999", labels=labels)
    try:
        other = docker_client.containers.run(
            ensure_service_image(docker_client),
            detach=True,
            labels=labels,
            network=net.name,
            name=f"herald-{settings.HERALD_INSTANCE}-job-999999-svc-web",
        )
        other.reload()
        ip = other.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
        repo, sha, _ = setup(
            {
                ".herald.yml": f"""\
image: {TEST_IMAGE}
steps:
  - name: probe
    commands:
      - "if nslookup web >/dev/null 2>&1; then echo resolved-other-jobs-service; fi"
      - "if printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 3 {ip} 80 | grep -q hello; then echo reached-other-job; else echo isolated; fi"
"""
            }
        )
        job = run_commit(repo, sha)
        text = log_of(job)
        assert job.status == "success", text
        assert "\nisolated\n" in text
        assert "reached-other-job\n" not in text.replace("echo reached-other-job", "")
        assert "resolved-other-jobs-service\n" not in text.replace("echo resolved-other-jobs-service", "")
    finally:
        for c in docker_client.containers.list(all=True, filters={"label": "org.herald-ci.job=999999"}):
            c.remove(force=True)
        net.remove()


def test_jobs_without_services_share_a_bridge_on_which_they_cannot_reach_each_other(setup, docker_client):
    from builds.docker.network import isolated_network

    # Another job's step, where a job without services runs: the shared bridge.
    net = isolated_network(docker_client)
    assert docker_client.api.inspect_network(net)["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    labels = {"org.herald-ci.instance": settings.HERALD_INSTANCE, "org.herald-ci.job": "999998"}
    other = docker_client.containers.run(
        ensure_service_image(docker_client),
        detach=True,
        labels=labels,
        network=net,
        name=f"herald-{settings.HERALD_INSTANCE}-job-999998-step-1",
    )
    try:
        other.reload()
        (ip,) = [n["IPAddress"] for n in other.attrs["NetworkSettings"]["Networks"].values()]
        repo, sha, _ = setup(
            {
                ".herald.yml": f"""\
image: {TEST_IMAGE}
steps:
  - name: probe
    commands:
      - "if printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 3 {ip} 80 | grep -q hello; then echo reached-other-job; else echo isolated; fi"
"""
            }
        )
        job = run_commit(repo, sha)
        text = log_of(job)
        assert job.status == "success", text
        assert "\nisolated\n" in text
        assert "reached-other-job\n" not in text.replace("echo reached-other-job", "")
        assert job_objects(docker_client, job) == []
    finally:
        other.remove(force=True)


def test_when_docker_has_no_address_pool_left_the_job_errors_saying_what_to_do(setup, docker_client):
    """Each bridge network holds one of the engine's address pools (about 30
    by default). With all of them taken, a job with services errors at once,
    and its log says what to do; nothing of the job stays behind."""
    import docker

    service_image = ensure_service_image(docker_client)
    repo, sha, _ = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
services:
  web: {{image: {service_image}}}
steps:
  - name: never
    commands: ["echo should-not-run"]
"""
        }
    )
    labels = {"org.herald-ci.instance": settings.HERALD_INSTANCE, "org.herald-ci.role": "test-pool-filler"}
    fillers = []
    try:
        for i in range(300):
            try:
                fillers.append(
                    docker_client.networks.create(f"herald-{settings.HERALD_INSTANCE}-filler-{i}", labels=labels)
                )
            except docker.errors.APIError as e:
                assert "address pool" in str(e.explanation), e
                break
        else:
            pytest.fail(
                "the engine still had address pools after 300 networks: this test expects "
                "dockerd's default-address-pools"
            )
        job = run_commit(repo, sha)
    finally:
        for n in fillers:
            n.remove()
    text = log_of(job)
    assert job.status == "errored", text
    assert "Docker could not create the job's network" in text
    assert "docker network prune" in text and "default-address-pools" in text
    assert "should-not-run" not in text
    assert job_objects(docker_client, job) == []


def test_a_service_named_like_a_real_host_errors_the_job_before_anything_starts(setup, docker_client):
    # On the job's network a service answers to its name: `github.com` would
    # catch every step's clone or API call.
    repo, sha, _ = setup(
        {
            ".herald.yml": f"""\
image: {TEST_IMAGE}
services:
  github.com: {{image: {TEST_IMAGE}, command: [sleep, "600"]}}
steps:
  - name: test
    commands: [git ls-remote https://github.com/acme/widgets]
"""
        }
    )
    job = run_commit(repo, sha)
    assert job.status == "errored"
    assert job.reason.startswith(
        ".herald.yml, line 3, services.github.com: a service name is the host name steps reach it by"
    )
    assert steps_of(job) == [] and job_objects(docker_client, job) == []
