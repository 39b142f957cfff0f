"""Browser tests: Debian's Chromium driven by Playwright against a real
Herald (gunicorn + django-q2 worker + Docker), in production mode: DEBUG off,
static files collected and served by whitenoise under hashed names."""

import os
import textwrap

import pytest

from tests.support import LiveHerald, herald_yml

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)


# Per module, not per session: Playwright's sync API keeps an event loop
# running while it is started, and a module that starts its own (like
# test_oauth_browser.py) must find none.
@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test installs it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as e:
        pw.stop()
        pytest.fail(f"Chromium at {CHROMIUM} does not start ({e}): apt-get install chromium", pytrace=False)
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def page(browser, herald):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=herald.url)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


class Herald:
    """The running Herald plus what the browser tests need of it."""

    def __init__(self, live, git_factory):
        self.live = live
        self.url = live.url
        self._git = git_factory
        self.repos = {}

    def shell(self, code):
        return self.live.manage("shell", "-c", textwrap.dedent(code))

    def repo(self, full_name, *, private=False, **settings):
        """A registered repository backed by a real git repository."""
        if full_name not in self.repos:
            src = self._git(full_name.replace("/", "-"))
            src.commit({"README": full_name}, "initial")
            self.live.add_repo(full_name, src.url, public=not private)
            if private:
                self.shell(
                    f"from repositories.models import Repository; "
                    f"Repository.objects.filter(full_name={full_name!r}).update(private=True)"
                )
            self.repos[full_name] = src
        if settings:
            self.shell(
                f"from repositories.models import Repository; "
                f"Repository.objects.filter(full_name={full_name!r}).update(**{settings!r})"
            )
        return self.repos[full_name]

    def push(self, full_name, *commands, branch="main", message="change", files=None):
        """Commit a build running `commands`, push it, return the job id."""
        src = self.repo(full_name)
        if branch != src.branch:
            try:
                src.checkout(branch, create=True)
            except Exception:
                src.checkout(branch)
            src.branch = branch
        sha = src.commit({".herald.yml": herald_yml(*commands), **(files or {})}, message)
        r = self.live.push_github(full_name, sha, branch=branch, message=message)
        assert r.status_code == 202, r.text
        return r.json()["jobs"][0]

    def user(self, username, password, *, staff=False, grants=()):
        self.shell(f"""
            from django.contrib.auth.models import User
            from repositories.models import Membership, Repository
            u = User.objects.create_user({username!r}, password={password!r}, is_staff={staff!r}, is_superuser={staff!r})
            for name, level in {list(grants)!r}:
                Membership.objects.create(user=u, repository=Repository.objects.get(full_name=name), permission=level)
        """)

    def fake_job(self, full_name, text, *, steps=(), chunk=64 * 1024, status="success"):
        """A finished job whose log is `text` (stored as the writer would),
        with JobSteps given as (name, status, seconds, first line's offset in text)."""
        self.repo(full_name)
        # Through a file: a command line argument cannot hold megabytes.
        path = self.live.dir / f"log-{len(text)}-{hash(text)}.txt"
        path.write_text(text)
        out = self.shell(f"""
            import pathlib
            from datetime import timedelta
            from django.db import transaction
            from django.utils import timezone
            from builds.models import Job, JobStep, LogChunk
            from repositories.models import Repository
            text = pathlib.Path({str(path)!r}).read_text()
            repo = Repository.objects.get(full_name={full_name!r})
            now = timezone.now()
            with transaction.atomic():
                job = Job.objects.create(repository=repo, number=repo.next_job_number(), commit="f" * 40,
                                         branch="main", message="stored log", status={status!r},
                                         started_at=now - timedelta(seconds=90), finished_at=now)
                rows, seq, seq_at = [], 0, {{}}
                cuts = sorted({{o for _, _, _, o in {list(steps)!r}}} | {{0}})
                for a, b in zip(cuts, cuts[1:] + [len(text)]):
                    for start in range(a, b, {chunk}):
                        seq += 1
                        seq_at.setdefault(a, seq)
                        rows.append(LogChunk(job=job, seq=seq, text=text[start:min(start + {chunk}, b)], created=now))
                LogChunk.objects.bulk_create(rows, batch_size=200)
                for n, (name, st, secs, offset) in enumerate({list(steps)!r}, 1):
                    JobStep.objects.create(job=job, number=n, name=name, status=st, exit_code=0 if st == "success" else 1,
                                           started_at=now - timedelta(seconds=90), finished_at=now - timedelta(seconds=90 - secs),
                                           first_seq=seq_at[offset])
            print(job.pk)
        """)
        return int(out.strip().splitlines()[-1])

    def wait(self, job_id, *statuses, timeout=120):
        return self.live.wait_job(
            job_id, statuses or ("success", "failed", "errored", "cancelled", "timed_out"), timeout=timeout
        )


@pytest.fixture(scope="session")
def herald(tmp_path_factory, docker_client, test_image):
    """One Herald for the browser tests (each uses its own repositories),
    started as in production: collectstatic first, DEBUG off."""
    from tests.support import GitRepo

    tmp = tmp_path_factory.mktemp("browser-herald")
    live = LiveHerald(tmp, env={"DEBUG": "0", "HERALD_CONCURRENCY": "2"})
    live.manage("collectstatic", "--noinput", "-v0")
    live.start()
    counter = [0]

    def git_factory(name):
        counter[0] += 1
        return GitRepo(tmp / "git" / f"{name}-{counter[0]}")

    yield Herald(live, git_factory)
    live.stop()  # also removes its Docker objects
    assert not live.left_behind, f"containers left behind: {live.left_behind}"


def sign_in(page, username, password):
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#sign-out")
