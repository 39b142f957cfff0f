#!/usr/bin/env python
"""(artifacts) Collecting 100 MB of artifacts (builds/artifacts.py): what a
job's end spends reading ten 10 MB files out of the workspace and storing
them (hashed, in the data dir), in both workspace modes — `bind` (the files
are on the worker's disk) and `copy` (a tar stream from the engine). A real
server and worker (LiveHerald) run the same build with and without
`artifacts:`; the cost is the difference in the time from the last step's
end to the job's. Also: the worker's peak memory meanwhile (the files are
streamed, never held), and one 10 MB file downloaded.

    .venv/bin/python bench/artifacts.py [--runs N] [--mb N]
"""

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import docker
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import MemorySampler, line  # noqa: E402
from tests import support  # noqa: E402
from tests.support import TEST_IMAGE, GitRepo, LiveHerald  # noqa: E402

FILES = 10


def pipeline(mb, keep):
    size = mb * 2**20 // FILES
    write = f"for i in $(seq {FILES}); do head -c {size} /dev/urandom > dist/part-$i.bin; done"
    kept = "artifacts: [dist/*.bin]\n" if keep else ""
    return f"image: {TEST_IMAGE}\n{kept}commands:\n  - mkdir -p dist\n  - {write}\n"


def _ts(text):
    return datetime.fromisoformat(text).timestamp()


def after_last_step(job):
    """Seconds from the last step's end to the job's: where collecting happens."""
    return _ts(job["finished_at"]) - _ts(job["steps"][-1]["finished_at"])


def bench_mode(tmp, mode, runs, mb):
    support.ensure_test_image(docker.from_env())
    src = GitRepo(Path(tmp) / f"src-{mode}")
    src.commit({".herald.yml": pipeline(mb, False)}, "bench")
    herald = LiveHerald(Path(tmp) / mode, env={"HERALD_WORKSPACE_MODE": mode, "HERALD_QUOTA_IMAGE": TEST_IMAGE}).start()
    sampler = MemorySampler(herald.proc.pid)
    try:
        herald.add_repo("bench/artifacts", src.url)
        times = {False: [], True: []}
        peaks = {False: 0, True: 0}  # the worker's PSS, KiB
        last = None
        for i in range(runs):
            for keep in (False, True):
                sha = src.commit({".herald.yml": pipeline(mb, keep), "n": f"{i}-{keep}"}, f"run {i}")
                job_id = herald.push_github("bench/artifacts", sha, branch=f"b{i}-{keep}").json()["jobs"][0]
                while True:
                    peaks[keep] = max(peaks[keep], sampler.sample()["worker"])
                    job = herald.job(job_id)
                    if job["status"] not in ("queued", "running"):
                        break
                    time.sleep(0.05)
                assert job["status"] == "success", herald.log_text(job_id)[-2000:]
                times[keep].append(after_last_step(job))
                last = job_id if keep else last
        listing = herald.get_json(f"/api/jobs/{last}/artifacts")["artifacts"]
        assert len(listing) == FILES and sum(a["size"] for a in listing) == mb * 2**20 // FILES * FILES, listing
        t0 = time.perf_counter()
        got = len(requests.get(listing[0]["url"], timeout=60).content)
        download = time.perf_counter() - t0
    finally:
        herald.stop()
    plain, kept = statistics.median(times[False]), statistics.median(times[True])
    line(f"{mode}: last step → job end, without / with artifacts", f"{plain:.2f} / {kept:.2f} s")
    line(
        f"{mode}: collecting {mb} MB ({FILES} files)",
        f"{kept - plain:.2f} s",
        f"{mb / max(kept - plain, 1e-3):.0f} MB/s",
    )
    line(
        f"{mode}: worker peak PSS, without / with artifacts",
        f"{peaks[False] / 1024:.0f} / {peaks[True] / 1024:.0f} MiB",
    )
    line(f"{mode}: one {got / 2**20:.0f} MB artifact downloaded", f"{download * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=100)
    args, _ = parser.parse_known_args()
    print(f"\n(artifacts) Collecting {args.mb} MB of artifacts, {args.runs} runs a mode (medians)")
    with tempfile.TemporaryDirectory(prefix="herald-bench-artifacts-") as tmp:
        for mode in ("bind", "copy"):
            bench_mode(tmp, mode, args.runs, args.mb)
