"""Test reports (builds/junit.py, builds/reports.py): JUnit XML as the tools
write it, read from a real folder, stored masked; the default branch's
recently failing tests; the API and the commit status text. The builds
themselves, in both workspace modes, are in test_reports_e2e.py."""

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from xml.sax.saxutils import escape

import pytest
from django.utils import timezone

from builds import junit, reports
from builds.models import Job, TestCaseFailure, TestReport
from builds.retention import prune
from repositories.commit_status import describe

# --- JUnit XML as each tool writes it ----------------------------------------------

# go-junit-report v2's output for `go test -v` with one failing test, as in its
# README (https://github.com/jstemmer/go-junit-report#example), trimmed.
GO_JUNIT_REPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" failures="1">
\t<testsuite name="example.com/calc" tests="3" failures="1" errors="0" id="0" hostname="ci" time="0.012" timestamp="2026-11-28T10:00:00Z">
\t\t<properties><property name="go.version" value="go1.23.1"></property></properties>
\t\t<testcase name="TestAdd" classname="example.com/calc" time="0.000"></testcase>
\t\t<testcase name="TestDiv" classname="example.com/calc" time="0.010">
\t\t\t<failure message="Failed"><![CDATA[    calc_test.go:14: Div(6, 3) = 3, want 2]]></failure>
\t\t</testcase>
\t\t<testcase name="TestSub" classname="example.com/calc" time="0.002"><skipped message="Skipped"><![CDATA[    calc_test.go:20: not on this platform]]></skipped></testcase>
\t</testsuite>
</testsuites>
"""

# jest-junit's default output (https://github.com/jest-community/jest-junit#readme):
# classname and name are "{classname} {title}", a <failure> has no message=.
JEST_JUNIT = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="2" failures="1" errors="0" time="1.204">
  <testsuite name="lexer" errors="0" failures="1" skipped="0" timestamp="2026-11-28T10:00:00" time="0.91" tests="2">
    <testcase classname="lexer reads numbers" name="lexer reads numbers" time="0.004">
    </testcase>
    <testcase classname="lexer reads strings" name="lexer reads strings" time="0.012">
      <failure>Error: expect(received).toBe(expected) // Object.is equality

Expected: "a"
Received: "b"
    at Object.toBe (/repo/lexer.test.js:9:21)</failure>
    </testcase>
  </testsuite>
</testsuites>
"""

# Maven Surefire's TEST-*.xml (https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report.xsd):
# a lone <testsuite>, an <error> for an exception, the test's printing in <system-out>.
SUREFIRE = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report-3.0.xsd" version="3.0" name="com.example.ParserTest" time="0.051" tests="2" errors="1" skipped="0" failures="0">
  <properties><property name="java.version" value="21.0.5"/></properties>
  <testcase name="parsesEmpty" classname="com.example.ParserTest" time="0.011"/>
  <testcase name="parsesNested" classname="com.example.ParserTest" time="0.023">
    <error message="Cannot invoke &quot;Node.next()&quot; because &quot;n&quot; is null" type="java.lang.NullPointerException">java.lang.NullPointerException: Cannot invoke "Node.next()" because "n" is null
\tat com.example.Parser.nested(Parser.java:42)</error>
    <system-out><![CDATA[parsing [[1]]
]]></system-out>
  </testcase>
</testsuite>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<testsuites><testsuite name="x"><testcase name="t"><failure message="&lol9;"/></testcase></testsuite></testsuites>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite name="x"><testcase name="t"><failure message="&secret;"/></testcase></testsuite>
"""


def pytest_report(tmp_path):
    """What pytest --junitxml writes for a pass, a failure that printed, a skip and an error."""
    (tmp_path / "pytest.ini").write_text("[pytest]\njunit_family = xunit1\n")
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent(
            """\
            import pytest

            def test_lexer():
                assert 1 + 1 == 2

            def test_parser():
                print("parsing the token stream")
                assert [1, 2] == [1, 3], "the parser dropped a token"

            @pytest.mark.skip(reason="not yet")
            def test_later():
                pass

            @pytest.fixture
            def broken():
                raise RuntimeError("the fixture broke")

            def test_setup(broken):
                pass
            """
        )
    )
    out = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django", "-c", "pytest.ini"]
        + ["--rootdir", str(tmp_path), f"--junitxml={out}", "test_sample.py"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    return out.read_bytes()


def test_it_reads_what_pytest_writes(tmp_path):
    summary = junit.parse(pytest_report(tmp_path))

    assert (summary.tests, summary.passed, summary.failed, summary.errors, summary.skipped) == (4, 1, 1, 1, 1)
    failed = {case.name: case for case in summary.cases}
    parser = failed["test_parser"]
    assert (parser.kind, parser.classname) == ("failed", "test_sample")
    assert "the parser dropped a token" in parser.message
    assert "parsing the token stream" in parser.output  # what the test printed
    assert failed["test_setup"].kind == "errored"
    assert "the fixture broke" in failed["test_setup"].output


def test_it_reads_go_junit_report():
    summary = junit.parse(GO_JUNIT_REPORT)

    assert (summary.tests, summary.passed, summary.failed, summary.skipped) == (3, 1, 1, 1)
    (case,) = summary.cases
    assert (case.suite, case.classname, case.name, case.message) == (
        "example.com/calc",
        "example.com/calc",
        "TestDiv",
        "Failed",
    )
    assert "Div(6, 3) = 3, want 2" in case.output
    assert summary.duration == pytest.approx(0.012)


def test_it_reads_jest_junit_taking_the_message_from_the_text():
    summary = junit.parse(JEST_JUNIT)

    assert (summary.tests, summary.passed, summary.failed) == (2, 1, 1)
    (case,) = summary.cases
    assert case.name == "lexer reads strings"
    assert case.message == "Error: expect(received).toBe(expected) // Object.is equality"
    assert 'Received: "b"' in case.output


def test_it_reads_surefire():
    summary = junit.parse(SUREFIRE)

    assert (summary.tests, summary.passed, summary.errors) == (2, 1, 1)
    (case,) = summary.cases
    assert (case.kind, case.name) == ("errored", "parsesNested")
    assert case.message == 'Cannot invoke "Node.next()" because "n" is null'
    assert "Parser.java:42" in case.output and "parsing [[1]]" in case.output


def test_it_keeps_the_first_lines_of_long_output():
    lines = "\n".join(f"line {i}" for i in range(500))
    xml = f'<testsuite name="s"><testcase name="t"><failure message="m">{lines}</failure></testcase></testsuite>'
    (case,) = junit.parse(xml.encode()).cases
    assert case.output.splitlines()[:2] == ["line 0", "line 1"]
    assert "line 49" in case.output and "line 50\n" not in case.output
    assert case.output.endswith("… 450 more lines")


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"this is not xml", "it is not well-formed XML (syntax error: line 1, column 0)"),
        (b"<testsuites><testsuite>", "it is not well-formed XML (no element found: line 1, column 23)"),
        (b"<html><body>404</body></html>", "its root element is <html>, not <testsuites> or <testsuite>"),
        (BILLION_LAUGHS, "it declares a DTD (<!DOCTYPE …>), which a test report never needs: refused"),
        (EXTERNAL_ENTITY, "it declares a DTD (<!DOCTYPE …>), which a test report never needs: refused"),
    ],
)
def test_it_says_why_a_file_is_not_a_report(data, reason):
    with pytest.raises(junit.Malformed) as e:
        junit.parse(data)
    assert str(e.value) == reason


# --- reading files from a real folder (`bind` mode) --------------------------------------


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "job-1"
    (root / "reports").mkdir(parents=True)
    return root


def read(checkout, patterns):
    return {
        name: (str(data) if isinstance(data, Exception) else data)
        for name, data in reports.files_on_host(checkout, patterns, reports.Budget())
    }


def test_it_reads_the_files_the_globs_match(checkout):
    (checkout / "reports" / "junit-unit.xml").write_bytes(SUREFIRE)
    (checkout / "junit.xml").write_bytes(JEST_JUNIT)
    (checkout / "reports" / "other.xml").write_bytes(b"<x/>")

    assert read(checkout, ["**/junit*.xml"]) == {"junit.xml": JEST_JUNIT, "reports/junit-unit.xml": SUREFIRE}
    assert read(checkout, ["reports/*.xml", "!**/other.xml"]) == {"reports/junit-unit.xml": SUREFIRE}


def test_it_refuses_a_link_leading_out_of_the_workspace(checkout, tmp_path):
    outside = tmp_path / "herald-private.xml"
    outside.write_bytes(SUREFIRE)
    (checkout / "reports" / "junit-a.xml").symlink_to(outside)
    (checkout / "reports" / "junit-b.xml").symlink_to("../../herald-private.xml")
    (checkout / "junit-in.xml").write_bytes(GO_JUNIT_REPORT)
    (checkout / "reports" / "junit-c.xml").symlink_to("../junit-in.xml")  # inside: read

    assert read(checkout, ["**/junit-*.xml"]) == {
        "junit-in.xml": GO_JUNIT_REPORT,
        "reports/junit-a.xml": "it leads outside the workspace (through a symbolic link)",
        "reports/junit-b.xml": "it leads outside the workspace (through a symbolic link)",
        "reports/junit-c.xml": GO_JUNIT_REPORT,
    }


def test_it_refuses_a_huge_file_without_reading_it(checkout, monkeypatch):
    monkeypatch.setattr(reports, "MAX_FILE_BYTES", 1024 * 1024)
    with open(checkout / "junit.xml", "wb") as f:
        f.truncate(3 * 1024 * 1024)  # sparse: its size, not its blocks

    assert read(checkout, ["junit.xml"]) == {"junit.xml": "it is 3.0 MB; the limit is 1 MB"}


def test_it_reads_so_many_files_and_bytes_and_no_more(checkout, monkeypatch):
    monkeypatch.setattr(reports, "MAX_FILES", 3)
    monkeypatch.setattr(reports, "MAX_TOTAL_BYTES", 3000)
    for i in range(6):
        (checkout / f"junit-{i}.xml").write_bytes(b"x" * (1000 if i != 1 else 2500))

    found = read(checkout, ["junit-*.xml"])
    assert found["junit-1.xml"] == "the job's reports pass 0 MB together"  # 1000 + 2500 > 3000
    assert [name for name, data in found.items() if data == b"x" * 1000] == [
        "junit-0.xml",
        "junit-2.xml",
        "junit-3.xml",
    ]
    assert found["junit-4.xml"] == found["junit-5.xml"] == reports.SKIPPED  # counted, never read


def test_it_refuses_what_is_not_a_regular_file(checkout):
    os.mkfifo(checkout / "junit-fifo.xml")  # would hold a reader forever
    (checkout / "junit-dir.xml").mkdir()

    assert read(checkout, ["junit-*.xml"]) == {"junit-fifo.xml": "it is not a regular file"}


# --- storing -----------------------------------------------------------------------------


def test_it_stores_the_totals_and_the_failures_masked(make_repository, make_job, settings):
    job = make_job(make_repository())
    summary = junit.parse(
        b'<testsuite name="s"><testcase name="test_login" classname="auth">'
        b'<failure message="401 with token tok-9f8e7d6c">POST /login Authorization: Bearer tok-9f8e7d6c'
        b"</failure><system-out>key " + escape(settings.SECRET_KEY).encode() + b"</system-out></testcase>"
        b'<testcase name="test_ok"/></testsuite>'
    )
    summary.cases[0].output += "\0"  # PostgreSQL stores no NUL
    report = reports.store(job, summary, files=1, secrets=["tok-9f8e7d6c"])

    (case,) = report.cases.all()
    assert case.message == "401 with token ****"
    assert case.output == "POST /login Authorization: Bearer ****\nkey ****"
    assert "tok-9f8e7d6c" not in case.output and settings.SECRET_KEY not in case.output
    assert (report.tests, report.passed, report.failed) == (2, 1, 1)


def test_it_keeps_at_most_so_many_failures_and_counts_them_all(make_repository, make_job, monkeypatch):
    monkeypatch.setattr(reports, "MAX_CASES", 3)
    job = make_job(make_repository())
    cases = "".join(f'<testcase name="t{i}"><failure message="no"/></testcase>' for i in range(10))
    report = reports.store(job, junit.parse(f"<testsuite>{cases}</testsuite>".encode()), files=1)

    assert (report.failed, report.cases.count(), report.cases_dropped) == (10, 3, 7)
    # An attempt run again replaces the report.
    reports.store(job, junit.parse(b'<testsuite><testcase name="t"/></testsuite>'), files=1)
    assert TestReport.objects.get(job=job).tests == 1


def test_the_commit_status_says_what_the_tests_say(make_repository, make_job):
    job = make_job(make_repository(), status="failed", exit_code=1)
    cases = '<testcase name="test_ok"/>' * 41 + "".join(
        f'<testcase name="{n}"><failure message="no"/></testcase>' for n in ("test_parser", "test_lexer")
    )
    reports.store(job, junit.parse(f"<testsuite>{cases}</testsuite>".encode()), files=1)
    job.refresh_from_db()

    assert describe(job, "failed") == f"Build #{job.number} failed: 41 passed, 2 failed (test_parser, test_lexer)"
    assert describe(job, "success") == f"Build #{job.number} passed: 41 passed, 2 failed (test_parser, test_lexer)"
    assert describe(job, "errored") == f"Build #{job.number} errored"


# --- the default branch's recent failures ------------------------------------------------


def test_it_lists_tests_failing_lately_with_flaky_ones_first(make_repository, make_job):
    repo = make_repository()

    def build(failing, branch="main"):
        job = make_job(repo, branch=branch)
        cases = '<testcase name="test_ok"/>' + "".join(
            f'<testcase name="{n}" classname="t"><failure message="x"/></testcase>' for n in failing
        )
        reports.store(job, junit.parse(f"<testsuite>{cases}</testsuite>".encode()), files=1)
        return job

    build(["test_net"])
    build([])
    build(["test_net", "test_db"])
    build(["test_db"], branch="feature")  # another branch: not counted
    build(["test_db"])
    last = build(["test_db"])

    tests = reports.recent_failures(repo)
    assert [(t["name"], t["failures"], t["of"], t["flaky"]) for t in tests] == [
        ("test_net", 2, 5, True),  # failed, passed, failed, passed, passed
        ("test_db", 3, 5, False),  # failing since it first failed
    ]
    assert (tests[1]["last_job"], tests[1]["last_number"]) == (last.pk, last.number)
    assert reports.recent_failures(repo, builds=2)[0]["name"] == "test_db"


# --- the API -------------------------------------------------------------------------------


def test_the_api_gives_the_report(client, make_repository, make_job):
    job = make_job(make_repository())
    reports.store(job, junit.parse(GO_JUNIT_REPORT), files=1)

    data = client.get(f"/api/jobs/{job.pk}/tests").json()
    assert {k: data[k] for k in ("tests", "passed", "failed", "errors", "skipped", "files")} == {
        "tests": 3,
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "skipped": 1,
        "files": 1,
    }
    assert data["cases"][0]["name"] == "TestDiv" and "want 2" in data["cases"][0]["output"]

    other = make_job(make_repository("acme/other"))
    response = client.get(f"/api/jobs/{other.pk}/tests")
    assert (response.status_code, response.json()) == (404, {"reason": "This job has no test report"})


def test_retention_deletes_reports_with_their_job(make_repository, make_job, settings):
    settings.HERALD_KEEP_DAYS, settings.HERALD_KEEP_BUILDS_MIN = 30, 1
    repo = make_repository()
    old = make_job(repo, status="failed", created_at=timezone.now() - timedelta(days=90))
    new = make_job(repo, status="failed")
    for job in (old, new):
        reports.store(
            job, junit.parse(b'<testsuite><testcase name="t"><failure message="x"/></testcase></testsuite>'), 1
        )

    prune()
    assert not Job.objects.filter(pk=old.pk).exists()
    assert list(TestReport.objects.values_list("job", flat=True)) == [new.pk]
    assert TestCaseFailure.objects.count() == 1
