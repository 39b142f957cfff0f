"""Running jobs in-process against a real Docker engine and git repository."""

import io
import textwrap

import docker
from django.db import transaction

from builds.claim import claim_next_job
from builds.lifecycle import create_job
from builds.models import Job, LogChunk
from builds.runner import Runner
from tests.support import TEST_IMAGE

SERVICE_IMAGE = "herald-test/web:latest"
USER_IMAGE = "herald-test/builder-user:latest"


def queue(repository, sha, event="push", branch="main", **extra):
    ref = extra.pop("ref", f"refs/tags/{extra['tag']}" if event == "tag" else f"refs/heads/{branch}")
    with transaction.atomic():
        job, _ = create_job(
            repository,
            event=event,
            commit=sha,
            ref=ref,
            branch="" if event == "tag" else branch,
            dedupe_seconds=0,
            **extra,
        )
    return job


def run_next(worker="test-worker"):
    claimed, why = claim_next_job(worker)
    assert claimed is not None, why
    Runner(claimed).run()
    claimed.refresh_from_db()
    return claimed


def run_commit(repository, sha, **kw):
    job = queue(repository, sha, **kw)
    ran = run_next()
    assert ran.pk == job.pk
    return ran


def log_of(job):
    return "".join(LogChunk.objects.filter(job=job).order_by("seq").values_list("text", flat=True))


def steps_of(job):
    return [(s.name, s.status, s.exit_code) for s in job.steps.order_by("number")]


def section_of(job, name):
    """The log from the chunk a step's section starts at, up to the next step's."""
    steps = list(job.steps.order_by("number"))
    step = next(s for s in steps if s.name == name)
    later = [s.first_seq for s in steps if s.number > step.number and s.first_seq]
    chunks = LogChunk.objects.filter(job=job, seq__gte=step.first_seq)
    if later:
        chunks = chunks.filter(seq__lt=later[0])
    return "".join(chunks.order_by("seq").values_list("text", flat=True))


def job_objects(client, job):
    """Containers, networks and volumes Docker still has for the job."""
    from django.conf import settings

    label = {"label": [f"org.herald-ci.job={job.pk}", f"org.herald-ci.instance={settings.HERALD_INSTANCE}"]}
    return (
        [c.name for c in client.containers.list(all=True, filters=label)]
        + [n.name for n in client.networks.list(filters=label)]
        + [v.name for v in client.volumes.list(filters=label)]
    )


def build_image(client, tag, dockerfile):
    """A small image built locally from the busybox test image (no registry)."""
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        pass
    image, _ = client.images.build(
        fileobj=io.BytesIO(textwrap.dedent(dockerfile).encode()), tag=tag, rm=True, pull=False
    )
    return image


def ensure_service_image(client):
    """A fake service: busybox httpd serving one page on port 80."""
    build_image(
        client,
        SERVICE_IMAGE,
        f"""\
        FROM {TEST_IMAGE}
        RUN mkdir -p /www && echo hello-from-the-service > /www/index.html
        CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
        """,
    )
    return SERVICE_IMAGE


def ensure_user_image(client):
    """An image that runs as a non-root user, like many language images."""
    build_image(
        client,
        USER_IMAGE,
        f"""\
        FROM {TEST_IMAGE}
        RUN echo 'builder:x:1234:2345:builder:/tmp:/bin/sh' >> /etc/passwd && echo 'builders:x:2345:' >> /etc/group
        USER builder
        """,
    )
    return USER_IMAGE


def jobs_of(repository):
    return list(Job.objects.filter(repository=repository).order_by("number"))
