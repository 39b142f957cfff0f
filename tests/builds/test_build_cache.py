"""One repository cannot poison another through Docker's build cache, and
an installation can turn `docker build` steps off."""

import uuid

import pytest

from builds.docker.image_build import cache_repository
from builds.models import Job
from tests.builds.helpers import ensure_service_image, log_of, queue, run_commit, run_next, section_of
from tests.builds.test_services import FETCH
from tests.support import TEST_IMAGE

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def files(service_image, who, nonce):
    # The same FROM and RUN lines for every repository; what the RUN fetches
    # comes from the repository's own service.
    return {
        ".herald.yml": (
            "services:\n"
            f"  web: {{image: {service_image}, env: {{WHO: {who}}},\n"
            "        command: [sh, -c, 'echo hello-$WHO > /www/index.html && exec httpd -f -p 80 -h /www']}\n"
            "steps:\n  - name: image\n    build: Dockerfile\n"
        ),
        "Dockerfile": (
            f"FROM {TEST_IMAGE}\nRUN echo cache-test-{nonce}\n"
            f'RUN {FETCH.format(host="web", port=80)} > /f\nRUN echo "fetched: $(cat /f)"\n'
        ),
    }


def test_a_layer_one_repository_built_is_never_reused_by_another(git_repo, make_repository, test_image, docker_client):
    service_image = ensure_service_image(docker_client)
    nonce = uuid.uuid4().hex
    src_a, src_b = git_repo("a"), git_repo("b")
    repo_a = make_repository("acme/a", clone_url=src_a.url)
    repo_b = make_repository("evil/b", clone_url=src_b.url)

    first = run_commit(repo_a, src_a.commit(files(service_image, "A", nonce)))
    assert first.status == "success", log_of(first)
    assert "fetched: hello-A" in log_of(first)

    other = run_commit(repo_b, src_b.commit(files(service_image, "B", nonce)))
    text = section_of(other, "image")
    assert other.status == "success", log_of(other)
    assert "fetched: hello-B" in text and "hello-A" not in text and "Using cache" not in text

    # Each repository still reuses its own layers.
    again = run_commit(repo_a, src_a.commit({"n": "2"}))
    text = section_of(again, "image")
    assert again.status == "success", log_of(again)
    assert "Using cache" in text and "fetched:" not in text.replace('RUN echo "fetched:', "")


def test_a_pull_request_from_a_fork_reads_the_cache_but_never_writes_it(
    git_repo, make_repository, test_image, docker_client
):
    nonce = uuid.uuid4().hex
    src = git_repo()
    repository = make_repository("acme/forked", clone_url=src.url)
    sha = src.commit(
        {
            ".herald.yml": "steps:\n  - name: image\n    build: Dockerfile\n",
            "Dockerfile": f"FROM {TEST_IMAGE}\nRUN echo fork-{nonce}\n",
        }
    )
    job = queue(repository, sha)
    Job.objects.filter(pk=job.pk).update(from_fork=True)
    ran = run_next()
    assert ran.status == "success", log_of(ran)
    assert docker_client.images.list(name=cache_repository(repository.pk)) == []

    trusted = run_commit(repository, src.commit({"n": "1"}))
    assert trusted.status == "success", log_of(trusted)
    assert [t for i in docker_client.images.list(name=cache_repository(repository.pk)) for t in i.tags] == [
        f"{cache_repository(repository.pk)}:step-1"
    ]


def test_an_installation_can_turn_docker_build_steps_off(git_repo, make_repository, test_image, settings):
    settings.HERALD_BUILD_STEPS = False
    src = git_repo()
    repository = make_repository(clone_url=src.url)
    job = run_commit(
        repository,
        src.commit(
            {
                ".herald.yml": f"steps:\n  - name: test\n    image: {TEST_IMAGE}\n    commands: [echo never-runs]\n"
                "  - name: image\n    build: Dockerfile\n",
                "Dockerfile": f"FROM {TEST_IMAGE}\n",
            }
        ),
    )

    assert job.status == "errored"
    assert job.reason == (
        "docker build steps are turned off on this server (HERALD_BUILD_STEPS=0): "
        "build the image in a command step, or ask the admin"
    )
    assert "never-runs\n" not in log_of(job).replace("[echo never-runs]", "")
