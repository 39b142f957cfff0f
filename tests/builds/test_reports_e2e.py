"""Test reports end to end: a real git repository, real Docker builds, in
both workspace modes (the checkout bind-mounted, or a volume read through
the engine). The build's test writes a JUnit file with a failure; the job
page shows it above the log, the commit status and the repository page say
it. Hostile report files are left out with the reason, the build's status
unchanged."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from builds.models import TestReport
from repositories.models import CommitStatus, ForgeAccount, Secret
from tests.builds.helpers import log_of, run_commit
from tests.builds.test_reports import BILLION_LAUGHS, GO_JUNIT_REPORT
from tests.support import TEST_IMAGE, Symlink

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

TOKEN = "tok-4b1d-never-shown"

# The step plays a test runner: it writes its JUnit report (printing a
# secret into a failure's output, as a careless test would) and exits 1.
FAILING = f"""\
image: {TEST_IMAGE}
reports: ["**/junit*.xml"]
steps:
  - name: test
    secrets: [API_TOKEN]
    commands:
      - mkdir -p build/test-results
      - sh write-report.sh > build/test-results/junit-unit.xml
      - echo '1 passed, 1 failed'
      - exit 1
"""

WRITE_REPORT = """\
cat <<EOF
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="2" failures="1">
<testcase classname="tests.test_parse" name="test_lexer" time="0.01"/>
<testcase classname="tests.test_parse" name="test_parser" time="0.02">
<failure message="AssertionError: assert 3 == 2">def test_parser():
&gt;       assert parse("1+1") == 2
E       AssertionError: assert 3 == 2</failure>
<system-out>calling the API with $API_TOKEN</system-out>
</testcase></testsuite></testsuites>
EOF
"""


@pytest.fixture(params=["bind", "copy"])
def mode(request, settings):
    settings.HERALD_WORKSPACE_MODE = request.param
    return request.param


@pytest.fixture
def repo_with(git_repo, make_repository, test_image):
    def make(files):
        src = git_repo()
        sha = src.commit(files)
        ada = User.objects.create_user("ada")
        account = ForgeAccount.objects.create(user=ada, provider="github", uid="101", login="ada-gh", token="t")
        repo = make_repository("acme/widgets", clone_url=src.url, enabled_by=account)
        Secret.objects.create(repository=repo, name="API_TOKEN", value=TOKEN)
        return repo, sha

    return make


def test_a_failing_test_shows_on_the_job_page_the_status_and_the_repository(mode, repo_with, client):
    repo, sha = repo_with({".herald.yml": FAILING, "write-report.sh": WRITE_REPORT})
    job = run_commit(repo, sha)

    log = log_of(job)
    assert job.status == "failed", log
    assert "Test reports: 1 file, 2 tests: 1 passed, 1 failed (test_parser)" in log
    report = TestReport.objects.get(job=job)
    assert (report.tests, report.passed, report.failed, report.files) == (2, 1, 1, 1)
    (case,) = report.cases.all()
    assert (case.classname, case.name, case.message) == (
        "tests.test_parse",
        "test_parser",
        "AssertionError: assert 3 == 2",
    )
    assert case.output.endswith("calling the API with ****")

    page = client.get(reverse("job", args=[job.pk])).content.decode()
    assert TOKEN not in page
    section = page[page.index('id="test-report"') : page.index('class="log-panel"')]  # above the log
    assert "2 tests</b>: 1 passed" in section and "1 failed" in section
    assert "test_parser" in section and "AssertionError: assert 3 == 2" in section
    assert "assert parse(&quot;1+1&quot;) == 2" in section  # the first lines of its output

    status = CommitStatus.objects.filter(job=job).order_by("id").last()
    assert (status.job_status, status.description) == (
        "failed",
        f"Build #{job.number} failed: 1 passed, 1 failed (test_parser)",
    )

    page = client.get(reverse("repository", args=[repo.full_name])).content.decode()
    recent = page[page.index('id="recent-test-failures"') :]
    assert "test_parser" in recent and "failed 1 of the last 1 build" in recent


HOSTILE = f"""\
image: {TEST_IMAGE}
reports: ["reports/**/*.xml"]
steps:
  - name: test
    commands:
      - printf 'PASS ok 0.1s' > reports/junit-broken.xml
      - dd if=/dev/zero of=reports/junit-huge.xml bs=1048576 count=11 2>/dev/null
      - ln -s /etc/passwd reports/junit-passwd.xml
      - echo all good
"""


def test_hostile_report_files_are_left_out_with_the_reason(mode, repo_with):
    repo, sha = repo_with(
        {
            ".herald.yml": HOSTILE,
            "reports/junit-go.xml": GO_JUNIT_REPORT,
            "reports/junit-bomb.xml": BILLION_LAUGHS,
            "reports/junit-up.xml": Symlink("../../../../../../etc/hostname"),
        }
    )
    job = run_commit(repo, sha)

    log = log_of(job)
    assert job.status == "success", log  # a report never fails a build on its own
    for name, reason in [
        ("junit-bomb.xml", "it declares a DTD (<!DOCTYPE …>), which a test report never needs: refused"),
        ("junit-broken.xml", "it is not well-formed XML (syntax error: line 1, column 0)"),
        ("junit-huge.xml", "it is 11.0 MB; the limit is 10 MB"),
        ("junit-passwd.xml", "it leads outside the workspace (through a symbolic link)"),
        ("junit-up.xml", "it leads outside the workspace (through a symbolic link)"),
    ]:
        assert f"Test report reports/{name} left out: {reason}" in log
    assert "root:x:0:0" not in log
    report = TestReport.objects.get(job=job)
    assert (report.files, report.tests, report.failed) == (1, 3, 1)
    # The build passed: the status says so, with what its tests say.
    status = CommitStatus.objects.filter(job=job).order_by("id").last()
    assert status.description == f"Build #{job.number} passed: 1 passed, 1 failed, 1 skipped (TestDiv)"


def test_a_build_without_reports_says_so(mode, repo_with):
    pipeline = f"image: {TEST_IMAGE}\nreports: [junit.xml]\ncommands: [echo no tests here]\n"
    repo, sha = repo_with({".herald.yml": pipeline})
    job = run_commit(repo, sha)

    assert job.status == "success"
    assert "Test reports: no readable file matches reports: [junit.xml]" in log_of(job)
    assert not TestReport.objects.filter(job=job).exists()
    assert (
        CommitStatus.objects.filter(job=job)
        .order_by("id")
        .last()
        .description.startswith(f"Build #{job.number} passed in ")
    )
