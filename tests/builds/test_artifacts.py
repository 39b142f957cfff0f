"""Build artifacts without Docker: what `artifacts:` accepts (and the schema
with it), the caps' words, the stored files going with their rows (retention,
the admin's bulk delete, a rolled-back delete keeping them) and downloads'
edge cases. The real builds are in test_artifacts_e2e.py."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from builds import artifacts
from builds.errors import PipelineError
from builds.lint import lint_text
from builds.models import Artifact, Job, artifact_storage
from builds.pipeline import parse_herald, parse_yaml
from builds.retention import prune
from ciproject.env import envjson
from tests.builds.test_schema import SCHEMA, schema_refusal


def parse(text):
    return parse_herald(parse_yaml(f"image: x\ncommands: [true]\n{text}".encode(), ".herald.yml"), ".herald.yml")


@pytest.mark.parametrize(
    "text,spec",
    [
        ("artifacts: ['dist/*.whl', coverage.xml]", artifacts.Spec(["dist/*.whl", "coverage.xml"], "success")),
        ("artifacts: dist/**", artifacts.Spec(["dist/**"], "success")),
        (
            "artifacts: {paths: [out/**, '!out/tmp/**'], when: always}",
            artifacts.Spec(["out/**", "!out/tmp/**"], "always"),
        ),
        ("artifacts: {paths: screens/*.png, when: failure}", artifacts.Spec(["screens/*.png"], "failure")),
        ("", None),
    ],
)
def test_it_parses_a_list_or_a_mapping(text, spec):
    assert parse(text).artifacts == spec
    assert schema_refusal(f"image: x\ncommands: [true]\n{text}") is None


@pytest.mark.parametrize(
    "text,message",
    [
        ("artifacts: {when: always}", "line 3, artifacts.paths: is required: the globs of the files to keep"),
        ("artifacts: {paths: [a], when: never}", "artifacts.when: must be success, failure or always, not 'never'"),
        ("artifacts: {paths: [a], keep: 3d}", "artifacts.keep: unknown key (allowed: paths, when)"),
        (
            "artifacts: ['../secrets/*']",
            "'../secrets/*' contains '..': artifacts are collected from the workspace only",
        ),
        ("artifacts: [/etc/passwd]", "starts with '/': patterns are relative to the repository root"),
        ("artifacts: []", "artifacts: must list at least one pattern (or be left out)"),
        ("artifacts: [dist/]", "names a folder: write 'dist/**' to match the files in it"),
    ],
)
def test_it_refuses_what_it_cannot_use_with_the_line_and_the_reason(text, message):
    with pytest.raises(PipelineError) as e:
        parse(text)
    assert message in str(e.value)
    if "'..'" not in message and "dist/" not in text and "/etc" not in text:
        # What the schema can say (a glob's content is the parser's business).
        assert schema_refusal(f"image: x\ncommands: [true]\n{text}")


def test_the_schema_knows_the_mapping_and_lint_shows_it():
    mapping = SCHEMA["properties"]["artifacts"]["anyOf"][1]
    assert set(mapping["properties"]) == artifacts.KEYS
    assert tuple(mapping["properties"]["when"]["enum"]) == artifacts.WHENS
    result = lint_text(b"image: x\ncommands: [true]\nartifacts: {paths: [dist/*], when: always}\n")
    assert result.as_json()["pipeline"]["artifacts"] == {"paths": ["dist/*"], "when": "always"}


# --- caps --------------------------------------------------------------------------


def test_the_caps_are_checked_before_reading_and_name_their_setting(make_repository, make_job, settings, stored):
    settings.HERALD_ARTIFACTS_MAX_JOB_BYTES = 10 * 2**20
    settings.HERALD_ARTIFACTS_MAX_TOTAL_BYTES = 0
    budget = artifacts.budget()
    assert budget.take(6 * 2**20) is None
    assert str(budget.take(5 * 2**20)) == (
        "it is 5.0 MB, and the job's artifacts would pass HERALD_ARTIFACTS_MAX_JOB_BYTES (10.0 MB)"
    )
    assert budget.take(4 * 2**20) is None  # a smaller one still fits

    # The installation's cap: what is stored already counts.
    settings.HERALD_ARTIFACTS_MAX_TOTAL_BYTES = 12 * 2**20
    store(make_job(make_repository()), "old.bin", b"x" * (8 * 2**20))
    budget = artifacts.budget()
    assert budget.take(3 * 2**20) is None
    assert str(budget.take(2 * 2**20)) == (
        "it is 2.0 MB, and the installation's artifacts would pass HERALD_ARTIFACTS_MAX_TOTAL_BYTES (12.0 MB): "
        "older builds' artifacts go with retention, or raise it"
    )


# --- storing and deleting -------------------------------------------------------------


@pytest.fixture
def stored(settings, tmp_path):
    location = tmp_path / "artifacts"
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}},
    }
    return location


def store(job, path, data):
    number = Artifact.objects.filter(job=job).count() + 1
    return artifacts._store(job, artifact_storage(), number, path, io.BytesIO(data))


def files(location):
    return sorted(str(p.relative_to(location)) for p in location.rglob("*") if p.is_file())


def test_retention_deletes_the_stored_files_with_their_job(
    make_repository, make_job, settings, stored, django_capture_on_commit_callbacks
):
    settings.HERALD_KEEP_DAYS, settings.HERALD_KEEP_BUILDS_MIN = 30, 1
    repo = make_repository()
    old = make_job(repo, status="success", created_at=timezone.now() - timedelta(days=90))
    new = make_job(repo, status="success")
    store(old, "dist/a.whl", b"old wheel")
    store(old, "coverage.xml", b"<coverage/>")
    kept = store(new, "dist/a.whl", b"new wheel")
    assert files(stored) == [f"{old.pk}/1", f"{old.pk}/2", f"{new.pk}/1"]

    with django_capture_on_commit_callbacks(execute=True):  # the test's own transaction never commits
        prune()
    assert not Job.objects.filter(pk=old.pk).exists()
    assert files(stored) == [kept.stored]
    assert (stored / kept.stored).read_bytes() == b"new wheel"


def test_a_bulk_delete_removes_the_files_and_a_rolled_back_one_keeps_them(
    make_repository, make_job, stored, django_capture_on_commit_callbacks
):
    job = make_job(make_repository())
    store(job, "a.bin", b"a")
    store(job, "b.bin", b"b")

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            Artifact.objects.filter(job=job).delete()
            raise RuntimeError("rolled back")
    assert files(stored) == [f"{job.pk}/1", f"{job.pk}/2"]

    with django_capture_on_commit_callbacks(execute=True):
        Artifact.objects.filter(job=job, path="a.bin").delete()  # the admin's "delete selected"
    assert files(stored) == [f"{job.pk}/2"]


# --- downloading ----------------------------------------------------------------------


def test_a_download_names_the_file_safely_and_says_when_it_is_gone(client, make_repository, make_job, stored):
    job = make_job(make_repository())  # public: anyone may read
    odd = store(job, 'out/"quoted" name;.html', b"<script>alert(1)</script>")
    response = client.get(odd.get_absolute_url())
    assert response["Content-Disposition"] == r'attachment; filename="\"quoted\" name;.html"'
    assert response["Content-Type"] == "application/octet-stream"  # never run as a page of Herald's
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"

    accented = store(job, "rapport-été.pdf", b"%PDF")
    response = client.get(accented.get_absolute_url())
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''rapport-%C3%A9t%C3%A9.pdf"

    (stored / odd.stored).unlink()
    response = client.get(odd.get_absolute_url())
    assert response.status_code == 404
    assert b"no longer in the storage" in response.content

    other = make_job(make_repository("acme/other"))
    assert client.get(f"/jobs/{other.pk}/artifacts/{odd.pk}/x").status_code == 404  # another job's id
    client.force_login(User.objects.create_user("someone"))
    assert client.get(f"/api/jobs/{job.pk}/artifacts").json()["artifacts"][0]["path"] == 'out/"quoted" name;.html'


class _CutShort(io.RawIOBase):
    """A file whose reading fails half way (the engine's stream broken)."""

    def __init__(self):
        self.sent = False

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.sent:
            raise OSError("the stream ended early")
        self.sent = True
        buffer[:4] = b"half"
        return 4


def test_a_file_cut_short_leaves_neither_a_row_nor_half_a_file(make_repository, make_job, stored):
    job = make_job(make_repository())
    with pytest.raises(OSError):
        artifacts._store(job, artifact_storage(), 1, "dist/app.whl", _CutShort())
    assert not Artifact.objects.filter(job=job).exists()
    assert files(stored) == []


def test_the_storage_options_must_be_a_json_object(monkeypatch):
    monkeypatch.setenv("HERALD_ARTIFACTS_STORAGE_OPTIONS", '{"bucket_name": "herald", "querystring_auth": true}')
    assert envjson("HERALD_ARTIFACTS_STORAGE_OPTIONS", {}) == {"bucket_name": "herald", "querystring_auth": True}
    for bad, why in [("bucket=herald", "must be a JSON object: Expecting value"), ('["herald"]', "like {")]:
        monkeypatch.setenv("HERALD_ARTIFACTS_STORAGE_OPTIONS", bad)
        with pytest.raises(ImproperlyConfigured) as e:
            envjson("HERALD_ARTIFACTS_STORAGE_OPTIONS", {})
        assert str(e.value).startswith("HERALD_ARTIFACTS_STORAGE_OPTIONS must be a JSON object") and why in str(e.value)
