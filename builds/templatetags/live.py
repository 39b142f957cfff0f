"""Template helpers for the parts of a page that stay true while it is open
(static/herald/herald.js and job.js keep them current without a reload):

- `{{ when|ago }}`: every relative time on every page, one way. A
  `<time datetime>` whose text the server writes once ("3 minutes ago",
  "in 2 hours") and the browser then keeps current, with the exact time
  in the reader's own time zone on hover (Intl, in herald.js).
- `{% status_icon status %}` / `{% status_icons %}`: the favicon that shows
  a job's state in its tab, and the table job.js switches it from.
- `{% step_timeline job steps %}`: each step's start and length on one bar.
"""

import json
from datetime import UTC

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import format_html

from builds import constants as C
from builds.durations import format_duration

register = template.Library()


@register.filter
def ago(value):
    """`<time datetime="…" data-ago>3 minutes ago</time>`; "" for None. The
    title is the exact time in UTC until the page's script rewrites it in
    the reader's zone (the server cannot know that zone)."""
    if not value:
        return ""
    utc = value.astimezone(UTC) if timezone.is_aware(value) else value
    return format_html(
        '<time datetime="{}" data-ago title="{}">{}</time>',
        utc.isoformat(timespec="seconds"),
        utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
        naturaltime(value),
    )


# A favicon per state: the final ones that mean "it broke" share the red
# one, the ones that mean "nothing ran" the grey one.
ICONS = {
    C.BLOCKED: "queued",
    C.QUEUED: "queued",
    C.RUNNING: "running",
    C.SUCCESS: "success",
    C.FAILED: "failed",
    C.TIMED_OUT: "failed",
    C.ERRORED: "errored",
    C.CANCELLED: "cancelled",
    C.SKIPPED: "cancelled",
}


@register.simple_tag
def status_icon(status):
    """The favicon's URL for a job in `status` (Herald's own for no status)."""
    name = ICONS.get(status)
    return static(f"herald/favicon-{name}.svg" if name else "herald/favicon.svg")


@register.simple_tag
def status_icons():
    """{status: favicon URL} as JSON, for job.js to switch the tab's icon
    (the static files have hashed names in production, so the script
    cannot build them itself)."""
    return json.dumps({status: status_icon(status) for status in ICONS})


TIMELINE_WIDTH = 1000


def timeline(started_at, finished_at, steps, now=None):
    """Each step's place on a bar TIMELINE_WIDTH long that spans the job:
    [{"step", "x", "w", "offset", "seconds"}], [] before the job starts. A
    running step runs to `now`; a step too short to see keeps a sliver."""
    if not started_at:
        return []
    now = now or timezone.now()
    total = max(((finished_at or now) - started_at).total_seconds(), 1)
    bars = []
    for step in steps:
        if not step.started_at:
            continue
        offset = max((step.started_at - started_at).total_seconds(), 0)
        seconds = max(((step.finished_at or now) - step.started_at).total_seconds(), 0)
        x = min(TIMELINE_WIDTH * offset / total, TIMELINE_WIDTH - 2)
        w = max(min(TIMELINE_WIDTH * seconds / total, TIMELINE_WIDTH - x), 2)
        bars.append({"step": step, "x": round(x, 1), "w": round(w, 1), "offset": offset, "seconds": seconds})
    return bars


@register.inclusion_tag("builds/_timeline.html")
def step_timeline(job, steps):
    bars = timeline(job.started_at, job.finished_at, steps)
    for bar in bars:
        bar["label"] = (
            f"{bar['step'].name}: {bar['step'].status}, from {format_duration(bar['offset'])}"
            f" for {format_duration(bar['seconds'])}"
        )
    return {"bars": bars, "width": TIMELINE_WIDTH}
