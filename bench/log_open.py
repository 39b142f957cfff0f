"""How fast a job with a 1,000,000-line log opens in a real browser, and how
it scrolls. Starts a real Herald (production mode: DEBUG off, collected static
files), stores the log as the writer would (64 KiB LogChunks), and drives
Debian's Chromium. Prints figures; asserts nothing.

    python bench/log_open.py [--lines 1000000] [--runs 3]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import LiveHerald  # noqa: E402

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

MAKE_LOG = """
import time
from django.db import transaction
from django.utils import timezone
from builds.models import Job, LogChunk
from repositories.models import Repository
N = {lines}
t = time.monotonic()
repo, _ = Repository.objects.get_or_create(full_name="bench/biglog", defaults={{"clone_url": "https://example.com/b.git", "private": False}})
now = timezone.now()
with transaction.atomic():
    job = Job.objects.create(repository=repo, number=repo.next_job_number(), commit="b" * 40, branch="main",
                             message="a million lines", status="success",
                             started_at=now - timezone.timedelta(minutes=20), finished_at=now)
# A compiler-like log within Herald's 50 MiB cap: every tenth line
# coloured, a progress bar every thousand.
parts = []
for i in range(1, N + 1):
    if i % 1000 == 0:
        parts.append(f"progress 10%\\rprogress 60%\\rprogress 100% ({{i}})\\n")
    elif i % 10 == 0:
        parts.append(f"\\x1b[32m  OK \\x1b[0m [{{i:>7}}] src/mod_{{i % 977}}.c\\n")
    else:
        parts.append(f"  CC  [{{i:>7}}] src/mod_{{i % 977}}.c -> mod_{{i % 977}}.o\\n")
text = "".join(parts)
size = 64 * 1024
rows = [LogChunk(job=job, seq=n + 1, text=text[s:s + size],
                 created=job.started_at + timezone.timedelta(seconds=n))
        for n, s in enumerate(range(0, len(text), size))]
LogChunk.objects.bulk_create(rows, batch_size=100)
print(job.pk, len(rows), len(text.encode()), round(time.monotonic() - t, 1))
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args, _ = parser.parse_known_args()
    if not os.path.exists("/usr/bin/chromium"):
        sys.exit("/usr/bin/chromium is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    base = Path(os.environ.get("HERALD_DATA_DIR") or ROOT / "data" / "bench")
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        herald = LiveHerald(tmp, env={"DEBUG": "0"})
        try:
            herald.manage("collectstatic", "--noinput", "-v0")
            herald.manage("migrate", "--noinput", "-v0")
            out = herald.manage("shell", "-c", MAKE_LOG.format(lines=args.lines)).strip().splitlines()[-1]
            job_id, chunks, size, secs = out.split()
            db = "PostgreSQL" if herald.pg_db else "SQLite"
            print(
                f"log: {args.lines:,} lines, {int(size) / 2**20:.1f} MiB in {chunks} chunks ({db}; stored in {secs} s)"
            )
            herald.start()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                measure(browser, herald.url, int(job_id), args.lines, args.runs)
                browser.close()
        finally:
            herald.stop()


def open_time(browser, url, last_line, hash=""):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url + hash)
    target = f'.log .ln[data-l="{last_line}"]:not(.loading)'
    page.wait_for_selector(target, timeout=60_000)
    return time.perf_counter() - start, context, page


def measure(browser, base, job_id, lines, runs):
    url = f"{base}/jobs/{job_id}/"
    # The first opens in each web process build its line index (gunicorn runs two).
    cold = []
    for _ in range(2):
        t, context, _ = open_time(browser, url, lines)
        cold.append(t)
        context.close()
    print(f"open, first time (builds the line index): {', '.join(f'{t:.2f} s' for t in cold)}")
    warm = []
    for _ in range(runs):
        t, context, _ = open_time(browser, url, lines)
        warm.append(t)
        context.close()
    print(
        f"open, tail in view:       median {statistics.median(warm):.2f} s (runs: {', '.join(f'{t:.2f}' for t in warm)})"
    )
    middle = lines // 2
    jumps = []
    for _ in range(runs):
        t, context, _ = open_time(browser, url, middle, hash=f"#L{middle}")
        jumps.append(t)
        context.close()
    print(f"open at #L{middle}:       median {statistics.median(jumps):.2f} s")

    t, context, page = open_time(browser, url, lines)
    # Scroll from the end towards the start, one screen per frame, for 3 s,
    # as fast as a person flinging a trackpad, and time the frames.
    stats = page.evaluate("""() => new Promise(done => {
        const box = document.getElementById("log");
        const gaps = []; let last = performance.now(); const end = last + 3000;
        function frame(now) {
            gaps.push(now - last); last = now;
            box.scrollTop = Math.max(0, box.scrollTop - box.clientHeight);
            if (now < end) requestAnimationFrame(frame);
            else {
                gaps.sort((a, b) => a - b);
                done({frames: gaps.length, p50: gaps[gaps.length >> 1], p95: gaps[Math.floor(gaps.length * 0.95)],
                      max: gaps[gaps.length - 1], rows: document.querySelectorAll('.log .ln').length,
                      firstRow: +document.querySelector('.log .ln').dataset.l});
            }
        }
        requestAnimationFrame(frame);
    })""")
    print(
        f"scrolling a screen per frame for 3 s: {stats['frames']} frames, frame time p50 {stats['p50']:.1f} ms, "
        f"p95 {stats['p95']:.1f} ms, max {stats['max']:.1f} ms; {stats['rows']} rows in the DOM"
    )
    # Drag the scrollbar across the whole log: 20 jumps, each shown once its lines arrive.
    start = time.perf_counter()
    for i in range(20):
        line = 1 + (lines - 1) * i // 19
        page.evaluate(f"location.hash = '#L{line}'")
        page.wait_for_selector(f'.log .ln[data-l="{line}"]:not(.loading)', timeout=30_000)
    print(
        f"20 jumps across the log, each until its lines show: {(time.perf_counter() - start) / 20 * 1000:.0f} ms each"
    )
    heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0")
    nodes = page.evaluate("document.getElementsByTagName('*').length")
    print(f"browser memory after all that: JS heap {heap / 2**20:.1f} MiB, {nodes} DOM elements")
    context.close()


if __name__ == "__main__":
    main()
