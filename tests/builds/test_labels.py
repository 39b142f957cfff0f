"""Worker labels and routing (issue 14 §5): runs_on: in the pipeline, the
claim's label rule, the hand-back of a job claimed by a worker without its
labels, and "why is this job waiting?" naming the label problem."""

import platform
import subprocess
import sys

import pytest
from django.utils import timezone

from builds import constants as C
from builds.claim import LABELS, Claimant, claim_next_job
from builds.errors import PipelineError
from builds.housekeeping import beat
from builds.labels import worker_labels
from builds.models import Job, Worker
from builds.pipeline import parse_herald, parse_yaml
from tests.builds.helpers import log_of, queue
from tests.support import ROOT, TEST_IMAGE

ARCH = f"arch:{platform.machine()}"


def pipeline(text):
    return parse_herald(parse_yaml(text.encode(), ".herald.yml"), ".herald.yml")


def waiting(client, job):
    return client.get(f"/api/jobs/{job.pk}/log/lines", {"count": 0}).json()["waiting"]


# --- runs_on: in .herald.yml ------------------------------------------------------------


def test_runs_on_takes_a_label_or_a_list_of_labels():
    assert pipeline("image: x\ncommands: [true]\nruns_on: gpu\n").runs_on == ["gpu"]
    p = pipeline("image: x\ncommands: [true]\nruns_on: [gpu, 'arch:aarch64']\n")
    assert p.for_combination({}).runs_on == ["arch:aarch64", "gpu"]
    assert pipeline("image: x\ncommands: [true]\n").runs_on == []


def test_runs_on_per_matrix_combination_names_matrix_values():
    p = pipeline("image: x\ncommands: [true]\nmatrix:\n  ARCH: [x86_64, aarch64]\nruns_on: ['arch:${ARCH}', big]\n")
    assert p.for_combination({"ARCH": "aarch64"}).runs_on == ["arch:aarch64", "big"]
    assert p.for_combination({"ARCH": "x86_64"}).runs_on == ["arch:x86_64", "big"]


@pytest.mark.parametrize(
    "value, message",
    [
        ("{gpu: true}", ".herald.yml, line 3, runs_on: must be a worker label or a list of them"),
        ("[gpu, [big]]", ".herald.yml, line 3, runs_on: must be a worker label or a list of them"),
        ("[]", ".herald.yml, line 3, runs_on: must be a worker label or a list of them"),
        ("3", ".herald.yml, line 3, runs_on: must be a worker label or a list of them"),
        ("['gpu,big']", "runs_on: 'gpu,big' is not a label: letters, digits and _ . : / + - only"),
        ("['two words']", "runs_on: 'two words' is not a label"),
        ("['arch:${ARCH}']", "runs_on: ${ARCH} is not a matrix variable (there is no matrix:)"),
        ("[" + ", ".join(f"l{i}" for i in range(17)) + "]", "runs_on: lists 17 labels; the limit is 16"),
    ],
)
def test_a_bad_runs_on_is_refused_with_the_line_and_the_reason(value, message):
    with pytest.raises(PipelineError) as e:
        pipeline(f"image: x\ncommands: [true]\nruns_on: {value}\n")
    assert message in str(e.value)


def test_a_matrix_value_that_makes_no_label_is_refused_naming_the_combination():
    with pytest.raises(PipelineError) as e:
        pipeline("image: x\ncommands: [true]\nmatrix:\n  ARCH: [x86_64, 'arm 64']\nruns_on: ['arch:${ARCH}']\n")
    assert "runs_on: 'arch:arm 64' is not a label" in str(e.value) and "(with ARCH=arm 64)" in str(e.value)


def test_a_bad_worker_label_stops_start_up_naming_the_variable(tmp_path):
    env = {"HERALD_WORKER_LABELS": "gpu,two words", "PATH": "/usr/bin:/bin", "HERALD_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "HERALD_WORKER_LABELS: 'two words' is not a label" in out.stderr


# --- the claim -------------------------------------------------------------------------------


def test_a_worker_has_its_labels_and_the_automatic_arch_and_os(settings):
    settings.HERALD_WORKER_LABELS = ["gpu", "big"]
    assert worker_labels() == sorted(["big", "gpu", ARCH, "os:linux"])


@pytest.mark.django_db
def test_a_job_needing_gpu_is_left_to_a_worker_with_gpu_while_later_jobs_go_past_it(make_repository, make_job):
    repo = make_repository()
    gpu = make_job(repo, runs_on="gpu", runs_on_read=True)
    plain = make_job(repo)
    assert claim_next_job("build-1", labels=[ARCH, "os:linux"])[0].pk == plain.pk
    assert claim_next_job("build-1", labels=[ARCH, "os:linux"]) == (None, "no-label")
    assert claim_next_job("build-2", labels=["gpu", ARCH])[0].pk == gpu.pk


@pytest.mark.django_db
def test_many_jobs_nobody_can_run_never_stall_the_queue(make_repository, make_job):
    repo = make_repository()
    for _ in range(15):  # more than the claim looks at in one go
        make_job(repo, runs_on="gpu", runs_on_read=True)
    last = make_job(repo)
    assert claim_next_job("build-1", labels=[ARCH])[0].pk == last.pk


@pytest.mark.django_db
def test_a_predicted_label_no_online_worker_has_does_not_hold_the_job_back(client, make_repository, make_job):
    """Before a worker has read its pipeline, a job's labels are those of
    the repository's last build: a guess. One nobody online can meet lets
    any worker claim the job and read the real runs_on:."""
    beat("build-1", labels=[])
    repo = make_repository()
    guess = make_job(repo, runs_on="cuda")
    assert waiting(client, guess) == ["It is next in the queue and starts as soon as a worker picks it up."]
    beat("build-2", slots=1, labels=["cuda"])
    # Someone has it now: the guess routes the job there.
    assert claim_next_job("build-1", labels=Worker.objects.get(host="build-1").labels) == (None, "no-label")
    assert claim_next_job("build-2", labels=Worker.objects.get(host="build-2").labels)[0].pk == guess.pk
    Worker.objects.filter(host="build-2").delete()
    again = make_job(repo, runs_on="cuda")
    assert claim_next_job("build-1", labels=Worker.objects.get(host="build-1").labels)[0].pk == again.pk


@pytest.mark.django_db
def test_a_job_needs_all_its_labels(make_repository, make_job):
    repo = make_repository()
    both = make_job(repo, runs_on="big,gpu", runs_on_read=True)
    assert claim_next_job("w1", labels=["gpu"]) == (None, "no-label")
    assert claim_next_job("w2", labels=["big"]) == (None, "no-label")
    assert claim_next_job("w3", labels=["big", "gpu", "x"])[0].pk == both.pk


@pytest.mark.django_db
def test_the_automatic_labels_route_by_architecture(make_repository, make_job, settings):
    settings.HERALD_WORKER_LABELS = []
    repo = make_repository()
    elsewhere = make_job(repo, runs_on="arch:no-such-machine", runs_on_read=True)
    here = make_job(repo, runs_on=f"{ARCH},os:linux", runs_on_read=True)
    # This machine's own labels, found by itself.
    assert claim_next_job("this-machine")[0].pk == here.pk
    assert claim_next_job("this-machine") == (None, "no-label")
    assert Job.objects.get(pk=elsewhere.pk).status == C.QUEUED


@pytest.mark.django_db
def test_a_worker_without_the_labels_passes_the_token_to_one_with_them_and_a_free_slot(make_repository, make_job):
    repo = make_repository()
    make_job(repo, runs_on="gpu", runs_on_read=True)
    beat("build-1", slots=1, labels=[])
    assert not LABELS.room_elsewhere(Claimant("build-1", [ARCH]))
    beat("build-2", slots=1, labels=["gpu"])
    assert LABELS.room_elsewhere(Claimant("build-1", [ARCH]))
    make_job(repo, status=C.RUNNING, worker="build-2", started_at=timezone.now())
    # build-2 is full: passing the token on would only bounce it back.
    assert not LABELS.room_elsewhere(Claimant("build-1", [ARCH]))


# --- why is it waiting? -------------------------------------------------------------------


@pytest.mark.django_db
def test_waiting_names_the_label_no_online_worker_has(client, make_repository, make_job):
    beat("build-1", labels=[])
    beat("build-2", labels=["big"])
    job = make_job(make_repository(), runs_on="gpu", runs_on_read=True)
    assert waiting(client, job) == [
        "It is next in the queue.",
        f"No online worker has the label gpu (online: build-1 [{ARCH}, os:linux], build-2 [{ARCH}, big, os:linux]).",
    ]
    two = make_job(job.repository, runs_on="big,gpu", runs_on_read=True)
    assert f"No online worker has the labels big and gpu (online: build-1 [{ARCH}, os:linux]" in waiting(client, two)[1]
    # A job behind it that a worker can run is not held back by it.
    plain = make_job(job.repository)
    assert waiting(client, plain) == ["It is next in the queue and starts as soon as a worker picks it up."]


@pytest.mark.django_db
def test_waiting_names_what_the_one_worker_with_the_label_is_busy_with(client, make_repository, make_job):
    beat("build-1", slots=2, labels=[])
    beat("build-3", slots=1, labels=["gpu"])
    repo = make_repository()
    busy = make_job(repo, status=C.RUNNING, worker="build-3", started_at=timezone.now(), runs_on="gpu")
    job = make_job(repo, runs_on="gpu", runs_on_read=True)
    assert waiting(client, job) == ["It is next in the queue.", f"The one worker with gpu is busy with #{busy.number}."]
    # The page says it, and the claim does it.
    assert claim_next_job("build-1", labels=Worker.objects.get(host="build-1").labels) == (None, "no-label")
    beat("build-4", slots=1, labels=["gpu"])
    other = make_repository("acme/other")
    elsewhere = make_job(other, status=C.RUNNING, worker="build-4", started_at=timezone.now(), runs_on="gpu")
    assert waiting(client, job)[1] == (
        f"The 2 workers with gpu (build-3, build-4) are busy with #{busy.number} and acme/other#{elsewhere.number}."
    )


@pytest.mark.django_db
def test_the_dashboard_shows_each_workers_labels(client, settings):
    settings.HERALD_ANONYMOUS_READ = True
    beat("build-2", labels=["big"])
    html = client.get("/").content.decode()
    assert f"build-2 · 0/{settings.HERALD_CONCURRENCY} busy" in html
    assert f"[{ARCH}, big, os:linux]" in html


# --- the real pipeline decides: the hand-back ------------------------------------------------


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_worker_without_the_label_hands_the_job_back_and_a_worker_with_it_runs_it(
    git_repo, make_repository, test_image, client, settings
):
    from builds.runner import Runner

    src = git_repo()
    gpu_sha = src.commit(
        {".herald.yml": f"image: {TEST_IMAGE}\nruns_on: [gpu]\ncommands: ['echo attempt $HERALD_ATTEMPT']\n"}
    )
    repo = make_repository(clone_url=src.url)
    # Two machines in one process: each runs with its own HERALD_WORKER_LABELS.
    settings.HERALD_WORKER_LABELS = []
    beat("build-1")
    job = queue(repo, gpu_sha)
    assert job.runs_on == ""  # nothing read yet: nothing predicted

    claimed, _ = claim_next_job("build-1")
    assert claimed.pk == job.pk
    assert Runner(claimed).run() == C.QUEUED
    job.refresh_from_db()
    assert (job.status, job.runs_on, job.attempts, job.losses, job.handbacks) == (C.QUEUED, "gpu", 0, 0, 1)
    assert job.reason.startswith("Handed back by build-1: its runs_on: asks for the label gpu, which build-1 lacks")
    assert "goes back in the queue for a worker that has it (a hand-back: not counted as an attempt)" in log_of(job)
    assert client.get(f"/api/jobs/{job.pk}/").json()["runs_on"] == ["gpu"]
    assert waiting(client, job)[1].startswith("No online worker has the label gpu (online: build-1 [")

    # It does not come back to build-1; a job behind it goes past, although
    # its labels are predicted from the last pipeline read: gpu, which no
    # online worker has, so the guess holds it back from nobody.
    repo.refresh_from_db()  # as the next webhook reads it
    assert repo.runs_on_hint == {"": "gpu"}  # what the next jobs are predicted from
    plain = queue(repo, src.commit({".herald.yml": f"image: {TEST_IMAGE}\ncommands: [echo plain]\n"}), branch="b")
    assert (plain.runs_on, plain.runs_on_read) == ("gpu", False)
    claimed, _ = claim_next_job("build-1")
    assert claimed.pk == plain.pk
    assert Runner(claimed).run() == C.SUCCESS
    plain.refresh_from_db()
    assert (plain.runs_on, plain.runs_on_read, plain.handbacks) == ("", True, 0)
    assert claim_next_job("build-1") == (None, "no-label")

    settings.HERALD_WORKER_LABELS = ["gpu"]
    beat("build-2")
    claimed, _ = claim_next_job("build-2")
    assert claimed.pk == job.pk
    assert Runner(claimed).run() == C.SUCCESS
    job.refresh_from_db()
    log = log_of(job)
    assert "attempt 1" in log  # HERALD_ATTEMPT: the hand-back did not count
    assert log.index("Handed back by build-1") < log.index("on build-2") < log.index("attempt 1")
    assert (job.worker, job.attempts, job.runs_on) == ("build-2", 1, "gpu")
    assert "Runs on" in client.get(f"/jobs/{job.pk}/").content.decode()


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_a_matrix_routes_each_combination_by_its_own_labels(git_repo, make_repository, test_image, settings):
    from builds.runner import Runner

    src = git_repo()
    sha = src.commit(
        {
            ".herald.yml": f"image: {TEST_IMAGE}\nmatrix:\n  SIZE: [small, big]\n"
            "runs_on: ['size:${SIZE}']\ncommands: ['echo $SIZE']\n"
        }
    )
    repo = make_repository(clone_url=src.url)
    first = queue(repo, sha)
    settings.HERALD_WORKER_LABELS = ["size:small"]
    claimed, _ = claim_next_job("w-small")
    assert claimed.pk == first.pk
    assert Runner(claimed).run() == C.SUCCESS
    (sibling,) = [j for j in Job.objects.filter(group=first) if j.matrix == {"SIZE": "big"}]
    assert (sibling.status, sibling.runs_on) == (C.QUEUED, "size:big")
    assert claim_next_job("w-small") == (None, "no-label")
    assert claim_next_job("w-big", labels=["size:big"])[0].pk == sibling.pk
