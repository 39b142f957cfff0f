"""Template helpers for the pages: durations, forge links, the duration chart."""

from datetime import timedelta

from django import template

from builds import constants as C
from builds.durations import format_duration

register = template.Library()


# 45 s, 3 min 5 s, 2 h 4 min (builds.durations).
register.filter("duration", format_duration)


@register.filter
def waited(job):
    """How long the job was queued before it started."""
    if not job.started_at:
        return None
    return job.started_at - job.created_at


@register.filter
def seconds(value):
    return int(value.total_seconds()) if isinstance(value, timedelta) else ""


@register.simple_tag
def pr_url(job):
    """The pull request's page on the forge ("" when the forge is unknown)."""
    return job.repository.pr_url(job.pr_number)


@register.simple_tag
def commit_url(job):
    return job.repository.commit_url(job.commit)


@register.filter
def matrix_label(matrix):
    if not matrix or not isinstance(matrix, dict):
        return ""
    return ", ".join(f"{k}={v}" for k, v in matrix.items())


def _tick(seconds):
    """Short axis labels: 2.5s, 40s, 3m20s, 1h05m."""
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f}s"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s" if seconds % 60 else f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 600, 140, 44, 18


@register.inclusion_tag("builds/_duration_chart.html")
def duration_chart(jobs):
    """Bars for the given jobs (oldest left), height = run time; drawn as SVG
    on the server so it needs no script and reads as text to assistive tech."""
    jobs = [j for j in reversed(list(jobs))]
    durations = [j.duration.total_seconds() if j.duration else 0 for j in jobs]
    top = max(durations, default=0) or 1
    # A round top for the axis: 1, 2 or 5 times a power of ten seconds.
    scale = 1
    while scale * 10 < top:
        scale *= 10
    for step in (1, 2, 5, 10):
        if scale * step >= top:
            top = scale * step
            break
    plot_w = CHART_WIDTH - CHART_LEFT - 4
    plot_h = CHART_HEIGHT - CHART_BOTTOM - 8
    # At least 25 slots: a young repository's few bars stay bars, not walls.
    slot = plot_w / max(len(jobs), 25)
    bars = []
    for i, (job, secs) in enumerate(zip(jobs, durations)):
        h = max(plot_h * secs / top, 1.5 if secs else 0)
        bars.append(
            {
                "job": job,
                "x": round(CHART_LEFT + i * slot + slot * 0.15, 1),
                "w": round(max(slot * 0.7, 1), 1),
                "y": round(8 + plot_h - h, 1),
                "h": round(h, 1),
                "seconds": secs,
                "running": job.status == C.RUNNING,
            }
        )
    ticks = [{"y": round(8 + plot_h - plot_h * f, 1), "label": _tick(top * f)} for f in (0, 0.5, 1)]
    return {
        "bars": bars,
        "ticks": ticks,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "right": CHART_WIDTH - 4,
        "baseline": 8 + plot_h,
    }
