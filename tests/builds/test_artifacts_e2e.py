"""Build artifacts end to end: a real git repository, real Docker builds in
both workspace modes, the files stored on disk through Django's storage and
downloaded through the job page and the API as the repository's owner, a
stranger and an anonymous visitor. Hostile files — links out of the
workspace, a file past the job's cap — are left out with the reason, the
build's status unchanged; a secret in a file name never shows."""

import hashlib
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from builds.models import Artifact
from repositories.models import ApiToken, Membership, Secret
from tests.builds.helpers import log_of, run_commit
from tests.support import TEST_IMAGE, Symlink

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

TOKEN = "tok-77aa-never-shown"
WHEEL = b"PK\x03\x04 a wheel, as far as this test cares\n"
COVERAGE = b'<coverage line-rate="0.9"/>\n'

BUILD = f"""\
image: {TEST_IMAGE}
artifacts: ["dist/*", "coverage.xml", "links/**", "out/passwd", "big.bin"]
steps:
  - name: build
    secrets: [API_TOKEN]
    commands:
      - mkdir -p dist links
      - cp wheel.bin dist/pkg-1.0-py3-none-any.whl
      - cp coverage.src coverage.xml
      - echo notes > "dist/notes-$API_TOKEN.txt"
      - ln -s /etc/passwd links/passwd
      - ln -s /etc links/etc
      - dd if=/dev/zero of=big.bin bs=1048576 count=3 2>/dev/null
"""


@pytest.fixture(params=["bind", "copy"])
def mode(request, settings):
    settings.HERALD_WORKSPACE_MODE = request.param
    return request.param


@pytest.fixture
def stored(settings, tmp_path):
    """The artifacts' storage: a folder of this test's own."""
    location = tmp_path / "artifacts"
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}},
    }
    settings.HERALD_ARTIFACTS_MAX_JOB_BYTES = 2 * 2**20
    return location


@pytest.fixture
def users(db):
    """The repository's owner and a stranger (no passwords: force_login)."""
    return SimpleNamespace(admin=User.objects.create_user("owner"), outsider=User.objects.create_user("stranger"))


@pytest.fixture
def repo_with(git_repo, make_repository, test_image, users, member):
    made = []

    def make(files):
        src = git_repo()
        sha = src.commit(files)
        made.append(src)
        repo = make_repository(f"acme/private-{len(made)}", clone_url=src.url, private=True)
        member(users.admin, repo, Membership.ADMIN)
        Secret.objects.create(repository=repo, name="API_TOKEN", value=TOKEN)
        return repo, sha

    return make


def test_artifacts_are_kept_refused_with_reasons_and_downloaded_with_read_rights(
    mode, stored, repo_with, users, client
):
    repo, sha = repo_with(
        {
            ".herald.yml": BUILD,
            "wheel.bin": WHEEL.decode(),
            "coverage.src": COVERAGE.decode(),
            "out": Symlink("/etc"),  # a folder link in the commit itself
        }
    )
    job = run_commit(repo, sha)

    log = log_of(job)
    assert job.status == "success", log  # an artifact never fails a build
    assert TOKEN not in log
    assert "Artifact big.bin left out: it is 3.0 MB, and the job's artifacts would pass " in log
    assert "HERALD_ARTIFACTS_MAX_JOB_BYTES (2.0 MB)" in log
    for name in ("links/passwd", "links/etc"):
        assert f"Artifact {name} left out: it leads outside the workspace (through a symbolic link)" in log
    # The committed link to /etc: bind mode finds out/passwd through it,
    # copy mode cannot even enter it; both refuse it.
    out = "out/passwd" if mode == "bind" else "out"
    assert f"Artifact {out} left out: it leads outside the workspace (through a symbolic link)" in log
    kept = ["coverage.xml", "dist/notes-****.txt", "dist/pkg-1.0-py3-none-any.whl"]
    assert f"Artifacts: 3 files, {len(WHEEL) + len(COVERAGE) + 6} bytes: {', '.join(kept)}" in log

    artifacts = {a.path: a for a in Artifact.objects.filter(job=job)}
    assert sorted(artifacts) == kept
    wheel = artifacts["dist/pkg-1.0-py3-none-any.whl"]
    assert (wheel.size, wheel.sha256) == (len(WHEEL), hashlib.sha256(WHEEL).hexdigest())
    # Stored under Herald's own names, the build's nowhere.
    on_disk = sorted(str(p.relative_to(stored)) for p in stored.rglob("*") if p.is_file())
    assert on_disk == sorted(a.stored for a in artifacts.values())
    assert all(name.startswith(f"{job.pk}/") and "." not in name for name in on_disk)
    assert not any(b"root:" in p.read_bytes() for p in stored.rglob("*") if p.is_file())

    # Anonymous and a stranger: the private repository's job does not exist.
    api = reverse("api-job-artifacts", args=[job.pk])
    for user in (None, users.outsider):
        if user:
            client.force_login(user)
        assert client.get(api).status_code == 404
        response = client.get(wheel.get_absolute_url())
        assert response.status_code == 404 and b"PK" not in response.content
    client.logout()

    # The owner, through the API with a token, as a script downloads.
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(users.admin)}"}
    listing = client.get(api, **bearer)
    assert TOKEN not in listing.content.decode()
    assert listing.json()["artifacts"][2] == {
        "path": "dist/pkg-1.0-py3-none-any.whl",
        "size": len(WHEEL),
        "sha256": wheel.sha256,
        "url": wheel.absolute_url(),
    }
    response = client.get(wheel.get_absolute_url(), **bearer)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == WHEEL
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="pkg-1.0-py3-none-any.whl"'
    assert response["X-Content-Type-Options"] == "nosniff"

    client.force_login(users.admin)
    page = client.get(reverse("job", args=[job.pk])).content.decode()
    assert TOKEN not in page
    section = page[page.index('id="artifacts"') : page.index('class="log-panel"')]
    assert f'href="{wheel.get_absolute_url()}"' in section and "dist/notes-****.txt" in section


FAILING = f"""\
image: {TEST_IMAGE}
artifacts:
  paths: [test-output/**]
  when: always
steps:
  - name: test
    commands:
      - mkdir -p test-output/screens
      - echo 'the page as it failed' > test-output/screens/login.png
      - exit 1
"""


def test_when_always_keeps_a_failed_builds_files_and_the_default_does_not(stored, repo_with, settings):
    settings.HERALD_WORKSPACE_MODE = "copy"
    default = FAILING.replace("  when: always\n", "")
    repo, sha = repo_with({".herald.yml": FAILING})
    job = run_commit(repo, sha)

    assert job.status == "failed"
    assert "Artifacts: 1 file, 22 bytes: test-output/screens/login.png" in log_of(job)
    (artifact,) = Artifact.objects.filter(job=job)
    assert (stored / artifact.stored).read_bytes() == b"the page as it failed\n"

    repo, sha = repo_with({".herald.yml": default})
    job = run_commit(repo, sha)
    assert "Artifacts: not collected (when: success, and the build did not succeed)" in log_of(job)
    assert not Artifact.objects.filter(job=job).exists()
