"""The one way Herald says a duration (builds.durations), at its boundaries."""

from datetime import timedelta

import pytest

from builds.durations import format_duration

# Shared with tests/browser/test_durations.py: the job page's live counters
# must say the same.
SPOKEN = [
    (0, "0 s"),
    (59, "59 s"),
    (60, "1 min"),
    (61, "1 min 1 s"),
    (125, "2 min 5 s"),
    (3599, "59 min 59 s"),
    (3600, "1 h"),
    (3601, "1 h"),
    (3660, "1 h 1 min"),
    (3661, "1 h 1 min"),
    (90000, "25 h"),  # no days: a build never runs that long
]


@pytest.mark.parametrize("seconds,text", SPOKEN)
def test_it_says_seconds_minutes_and_hours(seconds, text):
    assert format_duration(seconds) == text
    assert format_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    "value,text",
    [
        (None, ""),
        ("", ""),
        (59.9, "59 s"),
        (timedelta(seconds=60, microseconds=999_999), "1 min"),
        (-3, "0 s"),
    ],
)
def test_it_drops_fractions_and_shows_nothing_for_no_duration(value, text):
    assert format_duration(value) == text
