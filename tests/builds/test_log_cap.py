"""The log cap keeps the head and the tail: what a build printed first, and
the end, where failures are; the middle is counted and left out."""

from builds.logwriter import LogWriter
from builds.models import Job, LogChunk


def text_of(job):
    return "".join(LogChunk.objects.filter(job=job).order_by("seq").values_list("text", flat=True))


def test_the_head_and_the_last_whole_lines_are_kept(make_repository):
    job = Job.objects.create(repository=make_repository(), number=1, commit="a" * 40)
    writer = LogWriter(job, fresh=True, max_bytes=4000, chunk_bytes=256)
    lines = [f"é line {n}\n" for n in range(1000)]
    for line in lines:
        writer.write(line)
        if writer.due():
            writer.flush()
    writer.close()
    text = text_of(job)
    head, note, rest = text.partition("\x1b[1;36m[herald]\x1b[0m The log reached")
    assert head == "".join(lines[: head.count("\n")])  # whole lines
    assert 2900 < len(head.encode()) <= 3000 and head.startswith("é line 0\n")
    left_out, tail = rest.split("the last part follows.\n")
    kept = tail.splitlines(keepends=True)
    assert kept == lines[-len(kept) :] and 900 <= len(tail.encode()) <= 1000  # whole lines, the last quarter
    omitted = 1000 - head.count("\n") - len(kept)
    assert f"{omitted:,} lines (" in left_out
    assert "\ufffd" not in text  # no character cut in two
    job.refresh_from_db()
    assert job.log_bytes == len(text.encode())


def test_under_the_cap_nothing_is_left_out(make_repository):
    job = Job.objects.create(repository=make_repository(), number=1, commit="a" * 40)
    writer = LogWriter(job, fresh=True, max_bytes=4000)
    writer.write("short\n")
    writer.close()
    assert text_of(job) == "short\n"


def test_a_tail_shorter_than_its_room_is_kept_whole(make_repository):
    job = Job.objects.create(repository=make_repository(), number=1, commit="a" * 40)
    writer = LogWriter(job, fresh=True, max_bytes=4000)
    writer.write("x" * 2990 + "\n" + "past the head\n")
    writer.close()
    text = text_of(job)
    assert text.startswith("x" * 2990 + "\n\x1b[1;36m[herald]")
    assert "left out" not in text and text.endswith("will follow here when it ends.\npast the head\n")
