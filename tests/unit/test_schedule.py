"""The schedule maths: the manual's backup policies in a time zone, across DST and month ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.domain.schedule import IntervalUnit, Policy, Schedule, time_zone, wall_clock_to_utc
from appliance.errors import InvalidInput

NEW_YORK, LONDON, LORD_HOWE = ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), ZoneInfo("Australia/Lord_Howe")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(schedule: Schedule, start: datetime, zone, n: int) -> list[datetime]:
    out, now, anchor = [], start, None
    for _ in range(n):
        anchor = schedule.next_run(now, zone, anchor)
        out.append(anchor)
        now = anchor
    return out


def local(instants: list[datetime], zone) -> list[str]:
    return [i.astimezone(zone).strftime("%m-%d %H:%M %z") for i in instants]


# --- the daylight-saving rules, by example ------------------------------------------------
def test_a_time_in_the_spring_gap_runs_when_the_clocks_jump():
    daily = Schedule.daily(time(2, 30))
    assert local(runs(daily, utc(2024, 3, 8, 12), NEW_YORK, 3), NEW_YORK) == [
        "03-09 02:30 -0500", "03-10 03:00 -0400", "03-11 02:30 -0400"]


def test_a_time_in_the_autumn_fold_runs_once_at_its_first_occurrence():
    daily = Schedule.daily(time(1, 30))
    found = runs(daily, utc(2024, 11, 2, 12), NEW_YORK, 3)
    assert local(found, NEW_YORK) == ["11-03 01:30 -0400", "11-04 01:30 -0500", "11-05 01:30 -0500"]
    assert found[1] - found[0] == timedelta(hours=25)


def test_lord_howe_shifts_by_half_an_hour_both_ways():
    daily = Schedule.daily(time(2, 15))  # 02:00 -> 02:30 on 6 October 2024
    assert local(runs(daily, utc(2024, 10, 4, 12), LORD_HOWE, 3), LORD_HOWE) == [
        "10-05 02:15 +1030", "10-06 02:30 +1100", "10-07 02:15 +1100"]
    daily = Schedule.daily(time(1, 45))  # 02:00 -> 01:30 on 7 April 2024: 01:45 twice
    found = runs(daily, utc(2024, 4, 5, 12), LORD_HOWE, 3)
    assert local(found, LORD_HOWE) == ["04-06 01:45 +1100", "04-07 01:45 +1100", "04-08 01:45 +1030"]


def test_london_spring_gap_and_autumn_fold():
    assert wall_clock_to_utc(date(2024, 3, 31), time(1, 0), LONDON) == utc(2024, 3, 31, 1)
    assert wall_clock_to_utc(date(2024, 3, 31), time(1, 59), LONDON) == utc(2024, 3, 31, 1)
    assert wall_clock_to_utc(date(2024, 10, 27), time(1, 30), LONDON) == utc(2024, 10, 27, 0, 30)


# --- weekly, monthly, intervals -------------------------------------------------------------
def test_weekly_on_the_chosen_days():
    weekly = Schedule.weekly({1, 5}, time(23, 0))  # Mondays and Fridays at 23:00 in Shanghai
    found = runs(weekly, utc(2024, 5, 1), SHANGHAI, 4)  # Wednesday 1 May
    assert local(found, SHANGHAI) == ["05-03 23:00 +0800", "05-06 23:00 +0800", "05-10 23:00 +0800",
                                      "05-13 23:00 +0800"]


def test_a_date_a_month_lacks_is_skipped_not_moved():
    monthly = Schedule.monthly({31}, time(4, 0))
    found = runs(monthly, utc(2024, 1, 1), UTC, 4)
    assert [f.date().isoformat() for f in found] == ["2024-01-31", "2024-03-31", "2024-05-31", "2024-07-31"]
    leap = Schedule.monthly({29, 30}, time(0, 0))
    found = runs(leap, utc(2024, 2, 1), UTC, 3)
    assert [f.date().isoformat() for f in found] == ["2024-02-29", "2024-03-29", "2024-03-30"]
    found = runs(leap, utc(2023, 2, 1), UTC, 1)
    assert found == [utc(2023, 3, 29)]


def test_now_exactly_at_a_run_gives_the_next_one():
    daily = Schedule.daily(time(12, 0))
    assert daily.next_run(utc(2024, 1, 1, 12), UTC) == utc(2024, 1, 2, 12)


def test_intervals_count_elapsed_time_from_the_anchor():
    every = Schedule.interval(90, IntervalUnit.MINUTES)
    anchor = utc(2024, 3, 10, 5)
    assert every.next_run(utc(2024, 3, 10, 4), NEW_YORK, anchor) == anchor  # not yet reached
    assert every.next_run(anchor, NEW_YORK, anchor) == utc(2024, 3, 10, 6, 30)
    # a scheduler down for a while resumes on the grid, once, not once per missed run
    assert every.next_run(utc(2024, 3, 10, 11, 1), NEW_YORK, anchor) == utc(2024, 3, 10, 12, 30)
    assert every.next_run(utc(2024, 3, 10, 4), NEW_YORK) == utc(2024, 3, 10, 5, 30)
    assert Schedule.interval(2, IntervalUnit.DAYS).period == timedelta(days=2)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="aware"):
        Schedule.daily(time(1, 0)).next_run(datetime(2024, 1, 1), UTC)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Schedule.interval(0, IntervalUnit.HOURS), "every"),
        (lambda: Schedule.interval(367, IntervalUnit.DAYS), "every"),
        (lambda: Schedule.weekly(set(), time(1, 0)), "weekdays"),
        (lambda: Schedule.weekly({0, 3}, time(1, 0)), "weekdays"),
        (lambda: Schedule.weekly({8}, time(1, 0)), "weekdays"),
        (lambda: Schedule.monthly(set(), time(1, 0)), "month_days"),
        (lambda: Schedule.monthly({32}, time(1, 0)), "month_days"),
        (lambda: Schedule.daily(time(1, 0, 30)), "at"),
        (lambda: Schedule.from_spec('{"policy": "HOURLY"}'), "schedule"),
        (lambda: Schedule.from_spec('{"policy": "DAILY", "at": "25:00"}'), "schedule"),
        (lambda: Schedule.from_spec("not json"), "schedule"),
        (lambda: time_zone("Mars/Olympus"), "time_zone"),
        (lambda: time_zone("../../etc/passwd"), "time_zone"),
        (lambda: time_zone(""), "time_zone"),
    ],
)
def test_refusals_name_the_field(make, field):
    with pytest.raises(InvalidInput) as refused:
        make()
    assert refused.value.field == field


def test_time_zone_accepts_iana_names():
    assert time_zone("Asia/Shanghai") == SHANGHAI and time_zone("UTC") == ZoneInfo("UTC")


# --- properties -----------------------------------------------------------------------------
ZONES = [NEW_YORK, LONDON, LORD_HOWE, SHANGHAI, ZoneInfo("Europe/Berlin"), ZoneInfo("America/Santiago"),
         ZoneInfo("Australia/Adelaide"), ZoneInfo("UTC")]
# Times near the changes (they happen between 00:00 and 03:00 in these zones) come up often.
TIMES = st.one_of(
    st.builds(time, st.integers(0, 3), st.sampled_from([0, 1, 15, 29, 30, 45, 59])),
    st.builds(time, st.integers(0, 23), st.integers(0, 59)),
)
# Starts close to the spring and autumn changes of both hemispheres and to month ends.
STARTS = st.builds(
    lambda year, month, day, minute: datetime(year, month, 1, tzinfo=UTC) + timedelta(days=day, minutes=minute),
    st.integers(2000, 2036), st.sampled_from([1, 2, 3, 4, 9, 10, 11, 12]), st.integers(-3, 30),
    st.integers(0, 1440),
)
CALENDAR = st.one_of(
    st.builds(Schedule.daily, TIMES),
    st.builds(Schedule.weekly, st.frozensets(st.integers(1, 7), min_size=1), TIMES),
    st.builds(Schedule.monthly, st.frozensets(st.integers(1, 31), min_size=1, max_size=5)
              | st.frozensets(st.integers(27, 31), min_size=1), TIMES),
)


def _wall_time_exists(day: date, at: time, zone) -> bool:
    wall = datetime.combine(day, at, tzinfo=zone)
    return wall.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None)


@settings(max_examples=300, deadline=None)
@given(CALENDAR, STARTS, st.sampled_from(ZONES))
def test_calendar_runs_are_after_now_on_allowed_days_and_never_skip_or_double(schedule, start, zone):
    found = runs(schedule, start, zone, 12)
    assert found[0] > start
    assert all(a < b for a, b in pairwise(found))
    days = [f.astimezone(zone).date() for f in found]
    # every allowed local date from the first run to the last has exactly one run
    assert len(set(days)) == len(days)
    expected, day = [], days[0]
    while day <= days[-1]:
        if schedule.runs_on(day):
            expected.append(day)
        day += timedelta(days=1)
    assert days == expected
    # nothing allowed was passed over between start and the first run
    day = start.astimezone(zone).date()
    while day < days[0]:
        assert not schedule.runs_on(day) or wall_clock_to_utc(day, schedule.at, zone) <= start
        day += timedelta(days=1)
    for instant in found:
        wall = instant.astimezone(zone)
        assert schedule.runs_on(wall.date())
        if _wall_time_exists(wall.date(), schedule.at, zone):
            assert wall.time() == schedule.at
            assert wall.fold == 0 or not _wall_time_exists(wall.date(), schedule.at, zone)
            assert instant == datetime.combine(wall.date(), schedule.at, tzinfo=zone).astimezone(UTC)
        else:  # in the gap: the moment the clocks jumped, past the wanted time
            assert wall.time() > schedule.at
            assert (instant - timedelta(seconds=1)).astimezone(zone).utcoffset() != wall.utcoffset()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 500), st.sampled_from(list(IntervalUnit)), STARTS, st.integers(0, 10**8), st.sampled_from(ZONES))
def test_interval_runs_are_after_now_and_on_the_anchor_grid(every, unit, anchor, later_s, zone):
    if every * {"DAYS": 86400, "HOURS": 3600, "MINUTES": 60, "SECONDS": 1}[unit] > 366 * 86400:
        every = 1
    schedule = Schedule.interval(every, unit)
    now = anchor + timedelta(seconds=later_s)
    run = schedule.next_run(now, zone, anchor)
    assert now < run <= now + schedule.period
    assert (run - anchor) % schedule.period == timedelta(0)


@given(st.one_of(CALENDAR, st.builds(Schedule.interval, st.integers(1, 300), st.sampled_from(list(IntervalUnit)))))
def test_the_stored_form_reads_back(schedule):
    assert Schedule.from_spec(schedule.to_spec()) == schedule
    assert schedule.policy in Policy
