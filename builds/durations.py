"""How Herald says how long something took, everywhere on the server: the
pages, the commit statuses on the forge, a timeout's reason. The job page's
live counters (static/herald/job.js, `spoken`) say it the same way.

Imports nothing of Herald's, so repositories.commit_status can use it.
"""

from datetime import timedelta


def format_duration(value):
    """Seconds (or a timedelta) the way people say it: 45 s, 3 min 5 s,
    3 min, 2 h 4 min, 2 h; "" for None. Fractions of a second are dropped,
    and seconds past the first hour."""
    if value is None or value == "":
        return ""
    total = max(int(value.total_seconds() if isinstance(value, timedelta) else value), 0)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def estimate(history, elapsed):
    """How far a running build is, from how long its branch's recent
    successful builds took (`history`, seconds) and how long it has run:
    {"expected": the median, "left": seconds left (0 once past it),
    "fraction": 0…1}; None without history, since a guess from nothing
    would only mislead. The median, not the mean: one build that waited on
    a slow network should not move every later estimate."""
    history = sorted(h for h in history if h is not None and h > 0)
    if not history:
        return None
    middle = len(history) // 2
    expected = history[middle] if len(history) % 2 else (history[middle - 1] + history[middle]) / 2
    elapsed = max(elapsed or 0, 0)
    return {
        "expected": round(expected, 1),
        "left": round(max(expected - elapsed, 0), 1),
        "fraction": round(min(elapsed / expected, 1), 3),
    }


def left_text(eta):
    """What a running build has left, as the job page says it: "about 40 s
    left" (to the next 5 s: the estimate is no closer than that), "taking
    longer than usual" once past it, "" without an estimate. job.js's
    tickEta says it the same way between polls."""
    if not eta:
        return ""
    if eta["left"] <= 0:
        return f"taking longer than usual (about {format_duration(eta['expected'])})"
    left = eta["left"]
    return f"about {format_duration(left if left < 10 else -(-left // 5) * 5)} left"
