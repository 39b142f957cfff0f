#!/usr/bin/env python
"""(reports) Parsing a 5,000-test JUnit XML report (builds/junit.py): the
time and the memory a job's end spends on it. 250 of the tests fail, each
with a 30-line traceback and printed output, as pytest --junitxml writes
them. Target: well under a second, and memory a few times the file's size.

    .venv/bin/python bench/reports.py [--tests N]
"""

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import line  # noqa: E402
from builds import junit  # noqa: E402


def report(tests, failing_every=20):
    cases = []
    for i in range(tests):
        case = f'<testcase classname="tests.test_module_{i // 50}" name="test_case_{i}" time="0.{i % 1000:03d}"'
        if i % failing_every:
            cases.append(case + "/>")
            continue
        trace = "\n".join(
            f"tests/test_module_{i // 50}.py:{n}: in helper_{n}\n    value = compute({n})" for n in range(15)
        )
        cases.append(
            f'{case}><failure message="AssertionError: assert {i} == {i + 1}">{trace}\nE   AssertionError</failure>'
            f"<system-out>printed line {i}\n" + "debug output\n" * 10 + "</system-out></testcase>"
        )
    body = "\n".join(cases)
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
        f'tests="{tests}">{body}</testsuite></testsuites>'
    ).encode()


def bench_reports(tests=5000):
    data = report(tests)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        summary = junit.parse(data)
        times.append(time.perf_counter() - started)
    assert summary.tests == tests
    tracemalloc.start()
    junit.parse(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    line(
        f"{tests:,}-test report ({len(data) / 2**20:.1f} MB, {len(summary.cases)} failed): parse",
        f"{statistics.median(times) * 1000:.0f} ms",
        "target < 1 s",
    )
    line("  peak memory while parsing (tracemalloc)", f"{peak / 2**20:.1f} MB", "")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=5000)
    args, _ = parser.parse_known_args()
    print(f"\n(reports) Parsing a {args.tests:,}-test JUnit XML report")
    bench_reports(args.tests)
