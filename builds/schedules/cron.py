"""Cron expressions and time zones, as people write them on a schedule.

Exactly the five standard fields (minute hour day-of-month month
day-of-week), with croniter's syntax inside them (lists, ranges, steps,
names, L, W, #). croniter's extensions that would make the times unstable
or unstandard are refused: six or seven fields (seconds, years), @aliases,
and H (hashed) / R (random) values. A time zone is an IANA name known to
zoneinfo ("Europe/Paris", "UTC").
"""

import functools
import re
from datetime import datetime
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadDateError, CroniterError, croniter
from django.core.exceptions import ValidationError

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
MAX_LENGTH = 100
# A lone H or R (croniter's hashed and random values, also as H(0-29)/10),
# not the letters inside a name such as thu or mar.
_HASH_OR_RANDOM = re.compile(r"(?<![a-z])[hr](?![a-z])")
_PRINTABLE = re.compile(r"^[\x20-\x7e\t]*$")


def normalize(expression):
    """The expression with its fields separated by single spaces."""
    return " ".join(str(expression).split())


def check_cron(expression):
    """ValidationError with the reason unless `expression` is a standard
    five-field cron expression that matches some time."""
    expression = str(expression)
    if len(expression) > MAX_LENGTH:
        raise ValidationError(f"a cron expression is at most {MAX_LENGTH} characters")
    if not _PRINTABLE.match(expression):
        raise ValidationError("a cron expression is plain text: digits, names, * , - / ? L W #")
    fields = expression.split()
    if len(fields) != len(FIELDS):
        raise ValidationError(
            f"a cron expression has exactly 5 fields ({' '.join(FIELDS)}), {_shown(expression)} has {len(fields)}"
        )
    if _HASH_OR_RANDOM.search(expression.lower()):
        raise ValidationError(f"{_shown(expression)}: H and R (hashed and random times) are not standard cron")
    try:
        croniter(normalize(expression), datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ValidationError(f"{_shown(expression)} matches no date (such as 31 February)") from None
    except (CroniterError, ValueError, TypeError, KeyError, IndexError) as e:
        # croniter's reason, which names the field or the value it refused.
        raise ValidationError(f"{_shown(expression)} does not parse: {e}") from None


@functools.cache
def zones():
    """The time zone names zoneinfo knows, sorted."""
    return tuple(sorted(available_timezones()))


@functools.cache
def _zone_set():
    return frozenset(zones())


def check_timezone(name):
    """ValidationError unless `name` is a time zone zoneinfo knows. Checked
    against the list, never opened as given: a name is also a path."""
    if str(name) not in _zone_set():
        raise ValidationError(f"{_shown(name)} is not a time zone: give an IANA name such as Europe/Paris or UTC")


def next_time(expression, zone, after):
    """The first time after `after` (aware) the expression matches in the
    time zone named `zone`, as an aware datetime in that zone.

    The zone's own clock, as cron keeps it: 02:30 on a spring-forward
    night, when the clock jumps from 02:00 to 03:00, comes at 03:00; a time
    the clock shows twice on an autumn night comes once, the first time —
    except for an expression that runs every hour (hour field `*`), whose
    repeated hour is an hour of its own."""
    expression = normalize(expression)
    tz = ZoneInfo(zone)
    times = croniter(expression, after.astimezone(tz))
    every_hour = expression.split()[1] == "*"
    while True:
        moment = times.get_next(datetime)
        if every_hour or not _shown_again(moment, tz):
            return moment


def _shown_again(moment, tz):
    """Whether the wall-clock time of `moment` came once already (the
    second pass of an hour the clock was set back over)."""
    wall = moment.replace(tzinfo=None)
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    return first.utcoffset() != second.utcoffset() and moment.utcoffset() == second.utcoffset()


def _shown(value):
    value = str(value)
    return repr(value if len(value) <= 60 else value[:60] + "…")
