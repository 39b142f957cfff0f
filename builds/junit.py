"""One JUnit XML test report → its totals and its failed tests.

JUnit XML is what pytest (--junitxml), go-junit-report, jest-junit and Maven
Surefire all write: <testsuites> holding <testsuite>s (or a lone
<testsuite>) holding <testcase>s, each with a <failure>, <error> or
<skipped> child when it did not pass, and <system-out>/<system-err>.
junitparser (https://github.com/weiwei/junitparser) reads the elements.

The bytes come from a build, so they are hostile: defusedxml parses them
and refuses any DTD (no report needs one; entity expansion — the "billion
laughs" — and external entities both need one). The caller caps the size
before this sees a byte. Totals are counted from the test cases themselves,
not from the suites' own tests=/failures= attributes, which a tool may
leave out or get wrong.
"""

import math
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from junitparser import Error, Failure, JUnitXml, JUnitXmlError, Skipped

# A failed test's output kept: its first lines, and at most so many characters.
OUTPUT_LINES = 50
OUTPUT_CHARS = 8000
MESSAGE_CHARS = 1000


class Malformed(Exception):
    """The file is not a JUnit XML report we read; the message says why."""


@dataclass
class Case:
    """A test that failed (a <failure>) or errored (an <error>)."""

    suite: str
    classname: str
    name: str
    kind: str  # "failed" or "errored"
    message: str
    output: str


@dataclass
class Summary:
    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    duration: float = 0.0  # seconds, the sum of the cases' time=
    cases: list = field(default_factory=list)  # Case, the failed and errored ones

    def add(self, other):
        self.tests += other.tests
        self.passed += other.passed
        self.failed += other.failed
        self.errors += other.errors
        self.skipped += other.skipped
        self.duration += other.duration
        self.cases.extend(other.cases)


def parse(data):
    """The Summary of one report's bytes; Malformed when they are not one."""
    try:
        root = fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise Malformed("it declares a DTD (<!DOCTYPE …>), which a test report never needs: refused") from None
    except ParseError as e:
        raise Malformed(f"it is not well-formed XML ({e})") from None
    try:
        report = JUnitXml.fromroot(root)
    except JUnitXmlError:
        raise Malformed(f"its root element is <{_short(root.tag, 60)}>, not <testsuites> or <testsuite>") from None
    summary = Summary()
    for suite in report:
        for case in suite:
            _count(summary, suite.name or "", case)
    return summary


def _count(summary, suite, case):
    summary.tests += 1
    summary.duration += _seconds(case._elem.get("time"))
    results = case.result
    failure = next((r for r in results if isinstance(r, (Failure, Error))), None)
    if failure is None:
        if any(isinstance(r, Skipped) for r in results):
            summary.skipped += 1
        else:
            summary.passed += 1
        return
    kind = "errored" if isinstance(failure, Error) else "failed"
    if kind == "errored":
        summary.errors += 1
    else:
        summary.failed += 1
    output = [failure.text, case.system_out, case.system_err]
    summary.cases.append(
        Case(
            suite=suite,
            classname=case.classname or "",
            name=case.name or "",
            kind=kind,
            # jest-junit writes no message=: the text's first line says it.
            message=_short(failure.message or _first_line(failure.text) or failure.type or "", MESSAGE_CHARS),
            output=first_lines("\n".join(part.strip("\n") for part in output if part and part.strip())),
        )
    )


def first_lines(text, lines=OUTPUT_LINES, chars=OUTPUT_CHARS):
    kept = text.splitlines()
    more = len(kept) - lines
    out = "\n".join(kept[:lines])[:chars]
    return out + (f"\n… {more} more lines" if more > 0 else "")


def _first_line(text):
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def _seconds(value):
    try:
        seconds = float(value or 0)
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def _short(text, limit):
    return text if len(text) <= limit else text[: limit - 1] + "…"
