"""The log as the job page reads it: by line number, rendered to safe HTML."""

import hashlib
import random

import pytest
from django.utils import timezone

from builds.logview import render_line, render_lines
from builds.models import JobStep
from tests.conftest import finished

pytestmark = pytest.mark.django_db


def lines_api(client, job, **params):
    r = client.get(f"/api/jobs/{job.pk}/log/lines", params)
    assert r.status_code == 200, r.content
    return r.json()


# --- rendering ----------------------------------------------------------------------


def test_it_renders_colours_and_bold_as_spans():
    html, _ = render_line("\x1b[1;31merror\x1b[0m: \x1b[32mok\x1b[39m done")
    assert html == '<span class="f1 b">error</span>: <span class="f2">ok</span> done'


def test_it_renders_256_and_true_colours_and_inverse():
    assert render_line("\x1b[38;5;196mX")[0] == '<span style="color:#ff0000">X</span>'
    assert render_line("\x1b[48;2;1;2;3mY")[0] == '<span style="background-color:#010203">Y</span>'
    assert render_line("\x1b[7mZ")[0] == '<span class="f-bg g-fg">Z</span>'
    assert render_line("\x1b[93;44mW")[0] == '<span class="f11 g4">W</span>'


def test_it_escapes_html_so_a_build_cannot_inject_markup():
    html, _ = render_line('<script>alert("x")</script> & <img src=x onerror=alert(1)>')
    assert html == '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;'
    html, _ = render_line('\x1b[31m<b>"red"</b>')
    assert html == '<span class="f1">&lt;b&gt;"red"&lt;/b&gt;</span>'


def test_it_collapses_carriage_return_progress_to_the_last_state():
    assert render_line("  0%\r 50%\r100% done")[0] == "100% done"
    assert render_line("windows line\r")[0] == "windows line"
    # An empty redraw does not erase the bar; colours set on the way still count.
    html, state = render_line("\x1b[33m 10%\r\x1b[32m100%\r")
    assert html == '<span class="f2">100%</span>'
    assert render_line("next", state)[0] == '<span class="f2">next</span>'


def test_it_drops_other_escape_sequences_and_control_characters():
    html, _ = render_line("\x1b[2K\x1b[1A\x1b]0;title\x07pulling\x1b[K\x08 done\x00")
    assert html == "pulling done"


def test_colour_state_carries_from_line_to_line():
    html, _ = render_lines(["\x1b[36mcyan starts", "still cyan\x1b[0m", "plain"])
    assert html == ['<span class="f6">cyan starts</span>', '<span class="f6">still cyan</span>', "plain"]


# --- reading by line ---------------------------------------------------------------------


def test_it_reads_any_range_of_lines_whatever_the_chunk_boundaries(client, make_repository, make_job, add_log):
    job = make_job(make_repository(), **finished())
    add_log(job, "".join(f"line {i}\n" for i in range(1, 101)), size=13)
    data = lines_api(client, job, start=40, count=5)
    assert data["lines"] == [f"line {i}" for i in range(40, 45)]
    assert (data["start"], data["total"], data["partial"], data["complete"]) == (40, 100, False, True)
    assert lines_api(client, job, start=99, count=10)["lines"] == ["line 99", "line 100"]
    assert lines_api(client, job, start=101, count=10)["lines"] == []
    tail = lines_api(client, job, tail=3)
    assert (tail["start"], tail["lines"]) == (98, ["line 98", "line 99", "line 100"])


def test_colour_state_carries_across_chunk_boundaries(client, make_repository, make_job, add_log):
    job = make_job(make_repository(), **finished())
    add_log(job, "\x1b[1;32mgreen from here\nstill green\nand here\x1b[0m\nplain\n", size=5)
    data = lines_api(client, job, start=2, count=3)
    assert data["lines"] == [
        '<span class="f2 b">still green</span>',
        '<span class="f2 b">and here</span>',
        "plain",
    ]


def test_an_escape_split_between_chunks_still_colours(client, make_repository, make_job, add_log):
    job = make_job(make_repository(), **finished())
    text = "first\n\x1b[31mred\x1b[0m\n"
    cut = text.index("[31m") + 2  # the chunk boundary falls inside "\x1b[31m"
    add_log(job, text[:cut])
    add_log(job, text[cut:])
    assert lines_api(client, job)["lines"] == ["first", '<span class="f1">red</span>']


def test_a_growing_last_line_is_reported_partial_and_reread(client, make_repository, make_job, add_log):
    job = make_job(make_repository(), status="running", started_at=timezone.now())
    add_log(job, "a\nb\nprogress  5%")
    data = lines_api(client, job, start=1, count=10)
    assert (data["total"], data["partial"], data["complete"]) == (3, True, False)
    assert data["lines"][-1] == "progress  5%"
    add_log(job, "\rprogress 100%\nnext\n")
    data = lines_api(client, job, start=3, count=10)
    assert data["lines"] == ["progress 100%", "next"]
    assert (data["total"], data["partial"]) == (4, False)


def test_polling_from_the_first_unfinished_line_never_duplicates_or_drops(client, make_repository, make_job, add_log):
    """What job.js does, with output arriving in random pieces between polls."""
    rnd = random.Random(7)
    job = make_job(make_repository(), status="running", started_at=timezone.now())
    # Colours set on some lines and reset only on others: the state at a
    # line's start often comes from several lines (and chunks) before.
    expected = [
        f"{'#' * rnd.randint(0, 30)} step {i} "
        + (f"\x1b[3{i % 8}m" if i % 7 == 0 else "")
        + ("\x1b[1m" if i % 13 == 0 else "")
        + str(i)
        + ("\x1b[0m" if i % 11 == 0 else "")
        for i in range(400)
    ]
    text = "\n".join(expected) + "\n"
    shown = {}  # line number -> html, as the page holds them
    stable = 0
    pos = 0
    while True:
        if pos < len(text):
            piece = rnd.randint(1, 300)
            add_log(job, text[pos : pos + piece], size=rnd.randint(5, 64))
            pos += piece
        else:
            job.status = "success"
            job.finished_at = timezone.now()
            job.save()
        data = lines_api(client, job, start=stable + 1, count=50)
        for i, html in enumerate(data["lines"]):
            shown[data["start"] + i] = html
        done = data["total"] if data["complete"] else data["total"] - data["partial"]
        stable = min(done, data["start"] + len(data["lines"]) - 1) if data["lines"] else stable
        if data["complete"] and stable == data["total"]:
            break
    want, _ = render_lines(expected)
    assert [shown[i] for i in range(1, len(expected) + 1)] == want
    assert sorted(shown) == list(range(1, len(expected) + 1))


def test_each_line_carries_its_time_since_the_job_started(client, make_repository, make_job, add_log):
    start = timezone.now() - timezone.timedelta(minutes=5)
    job = make_job(make_repository(), status="running", started_at=start)
    add_log(job, "early\n", created=start + timezone.timedelta(seconds=3))
    add_log(job, "late\n", created=start + timezone.timedelta(seconds=125))
    assert lines_api(client, job)["times"] == [3.0, 125.0]


def test_steps_come_with_the_line_each_starts_on(client, make_repository, make_job, add_log):
    job = make_job(make_repository(), **finished())
    add_log(job, "cloning\nchecked out\n")
    first = add_log(job, "$ make\ncc -o app\n") - 0
    second = add_log(job, "$ make test\nok\n")
    JobStep.objects.create(
        job=job,
        number=1,
        name="build",
        status="success",
        exit_code=0,
        started_at=job.started_at,
        finished_at=job.started_at + timezone.timedelta(seconds=12),
        first_seq=first,
    )
    JobStep.objects.create(job=job, number=2, name="test", status="success", exit_code=0, first_seq=second)
    JobStep.objects.create(job=job, number=3, name="deploy", status="skipped")
    sections = lines_api(client, job, count=0)["sections"]
    assert [(s["name"], s["line"], s["status"]) for s in sections] == [
        ("build", 3, "success"),
        ("test", 5, "success"),
        ("deploy", None, "skipped"),
    ]
    assert sections[0]["duration"] == 12.0


def test_bad_parameters_are_clear_errors(client, make_repository, make_job):
    job = make_job(make_repository())
    r = client.get(f"/api/jobs/{job.pk}/log/lines", {"start": "x"})
    assert r.status_code == 404 and "start must be an integer" in r.json()["reason"]
    assert client.get(f"/api/jobs/{job.pk}/log/search", {"q": " "}).status_code == 400


def test_the_seq_api_keeps_its_contract(client, make_repository, make_job, add_log):
    job = make_job(make_repository(), **finished())
    add_log(job, "one\ntwo\n", size=4)
    data = client.get(f"/api/jobs/{job.pk}/log", {"after": 1}).json()
    assert [c["seq"] for c in data["chunks"]] == [2]
    assert data["chunks"][0]["text"] == "two\n" and data["complete"] is True


# --- search ------------------------------------------------------------------------------------


def test_search_finds_lines_ignoring_case_colours_and_chunk_boundaries(client, make_repository, make_job, add_log):
    job = make_job(make_repository(), **finished())
    text = "".join(f"line {i}\n" for i in range(1, 50))
    text += "an \x1b[31mERR\x1b[0mor here\nnothing\nerror again, error twice\n"
    add_log(job, text, size=7)
    data = client.get(f"/api/jobs/{job.pk}/log/search", {"q": "Error"}).json()
    assert data == {"q": "Error", "matches": [50, 52], "truncated": False}


def test_search_stops_at_its_limit(client, make_repository, make_job, add_log):
    job = make_job(make_repository(), **finished())
    add_log(job, "hit\n" * 1500)
    data = client.get(f"/api/jobs/{job.pk}/log/search", {"q": "hit"}).json()
    assert len(data["matches"]) == 1000 and data["truncated"] is True


# --- the raw log ----------------------------------------------------------------------------------


def test_raw_log_streams_50_mib_exactly(client, make_repository, make_job, add_log):
    job = make_job(make_repository(), **finished())
    line = "0123456789 abcdefghij ÄÖÜ € \x1b[32mcolour\x1b[0m <tag>\n"
    text = line * (50 * 1024 * 1024 // len(line.encode()))
    add_log(job, text)
    r = client.get(f"/jobs/{job.pk}/log.txt")
    assert r.status_code == 200 and r.streaming
    assert r["Content-Type"] == "text/plain; charset=utf-8"
    digest, size = hashlib.sha256(), 0
    for piece in r.streaming_content:
        digest.update(piece)
        size += len(piece)
    assert size == len(text.encode()) > 49 * 1024 * 1024
    assert digest.hexdigest() == hashlib.sha256(text.encode()).hexdigest()
    download = client.get(f"/jobs/{job.pk}/log.txt?download=1")
    assert download["Content-Disposition"].startswith("attachment;")
