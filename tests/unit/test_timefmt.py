"""Time arithmetic (sweepq.timefmt): next_occurrence across DST, and `--until HH:MM`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepq.timefmt import first_of_next_month_utc, next_occurrence, parse_until

LA, SE, REC, LON = "America/Los_Angeles", "Europe/Stockholm", "America/Recife", "Europe/London"


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.fixture
def london(monkeypatch):
    """The process's zone is Europe/London (for code that asks the C library too)."""
    monkeypatch.setenv("TZ", LON)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "now, until, expected",
    [
        # 2026-10-25: clocks go back at 02:00 BST. From 23:30 BST (22:30 UTC) the next
        # 03:00 is 03:00 GMT = 03:00 UTC, 4.5 h later; a naive "tomorrow 03:00 at today's
        # offset" says 02:00 UTC.
        ("2026-10-24T23:30:00+01:00", "03:00", "2026-10-25T03:00:00+00:00"),
        # 2026-03-29: clocks go forward at 01:00 GMT. The next 03:00 is 03:00 BST = 02:00 UTC.
        ("2026-03-28T23:30:00+00:00", "03:00", "2026-03-29T02:00:00+00:00"),
        # 01:30 does not exist on 2026-03-29: the pre-change offset applies (02:30 BST).
        ("2026-03-29T00:10:00+00:00", "01:30", "2026-03-29T01:30:00+00:00"),
        # an ordinary night
        ("2026-11-25T21:21:16+00:00", "03:00", "2026-11-26T03:00:00+00:00"),
        # an ISO time without an offset is local
        ("2026-10-24T23:30:00+01:00", "2026-10-25T03:00", "2026-10-25T03:00:00+00:00"),
    ],
)
def test_pause_until_is_dst_correct(london, now, until, expected):
    assert parse_until(until, ts(now)) == ts(expected)


def test_first_of_next_month_utc_crosses_the_year():
    assert first_of_next_month_utc(ts("2026-12-31T23:59:00+00:00")) == ts(
        "2027-01-01T00:00:00+00:00")
    assert first_of_next_month_utc(ts("2026-07-15T12:00:00+00:00")) == ts(
        "2026-08-01T00:00:00+00:00")


# --------------------------------------------------------------------------- next_occurrence


@pytest.mark.parametrize(
    "hour, minute, zone, now, month, day, expected",
    [
        (2, 0, LA, "2026-07-15T01:00", None, None, "2026-07-15T02:00"),
        (2, 0, LA, "2026-07-15T03:00", None, None, "2026-07-16T02:00"),
        (2, 0, LA, "2026-07-15T02:00", None, None, "2026-07-16T02:00"),  # strictly after
        (16, 0, REC, "2026-12-31T23:00", 4, 23, "2027-04-23T16:00"),
        (0, 0, "UTC", "2027-03-01T00:00", 2, 29, "2028-02-29T00:00"),  # leap day
    ],
)
def test_next_occurrence(hour, minute, zone, now, month, day, expected):
    tz = ZoneInfo(zone)
    got = next_occurrence(hour, minute, tz, datetime.fromisoformat(now).replace(tzinfo=tz),
                          month=month, day=day)
    assert got == datetime.fromisoformat(expected).replace(tzinfo=tz)
    assert got.tzinfo is tz


def test_next_occurrence_spring_forward_gap_los_angeles():
    # 2026-03-08: 02:00 PST jumps to 03:00 PDT; "2:30am" does not exist that night and
    # resolves with the pre-change offset, i.e. 10:30 UTC = 03:30 PDT.
    tz = ZoneInfo(LA)
    now = datetime(2026, 3, 8, 1, 0, tzinfo=tz)
    got = next_occurrence(2, 30, tz, now)
    assert got.astimezone(UTC) == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)
    assert got.astimezone(UTC) - now.astimezone(UTC) == timedelta(hours=1, minutes=30)


def test_next_occurrence_fall_back_ambiguous_los_angeles():
    # 2026-11-01: 01:30 happens twice (PDT, then PST an hour later).
    tz = ZoneInfo(LA)
    first = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT
    second = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)  # 01:30 PST
    before = datetime(2026, 11, 1, 0, 0, tzinfo=tz)
    assert next_occurrence(1, 30, tz, before).astimezone(UTC) == first
    between = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    assert next_occurrence(1, 30, tz, between).astimezone(UTC) == second
    assert next_occurrence(1, 30, tz, second).astimezone(UTC) == datetime(
        2026, 11, 2, 9, 30, tzinfo=UTC)


ZONES = ["UTC", LA, LON, REC, SE, "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham"]


@settings(max_examples=examples(300), deadline=None)
@given(
    st.integers(0, 23),
    st.integers(0, 59),
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                 timezones=st.just(UTC)),
)
def test_next_occurrence_properties(hour, minute, zone, now):
    tz = ZoneInfo(zone)
    got = next_occurrence(hour, minute, tz, now)
    delta = got.astimezone(UTC) - now
    assert timedelta(0) < delta <= timedelta(hours=25)
    wall = got.astimezone(tz)
    if (wall.hour, wall.minute) != (hour, minute):  # only when that wall time doesn't exist
        naive = datetime.combine(wall.date(), datetime.min.time()).replace(hour=hour,
                                                                           minute=minute)
        roundtrip = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
        assert (roundtrip.hour, roundtrip.minute) != (hour, minute)
