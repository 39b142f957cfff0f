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
