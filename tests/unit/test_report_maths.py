"""Report maths: periods, the roll-up levels that tile them, peak concurrency."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.domain.reports import (
    EXTENSION_COVER,
    SERIES_COVER,
    Grouping,
    ReportTemplate,
    cover,
    edges,
    key_time,
    labels,
    peaks,
    period_for,
    week_pieces,
    weekday_of,
)
from appliance.errors import InvalidInput


def _step(t: datetime, level: str) -> datetime:
    if level == "y":
        return datetime(t.year + 1, 1, 1)
    if level == "m":
        return datetime(t.year + t.month // 12, t.month % 12 + 1, 1)
    return t + (timedelta(days=1) if level == "d" else timedelta(hours=1))


def _hours(pieces) -> list[datetime]:
    """Every hour the pieces hold, in order."""
    out = []
    for p in pieces:
        t, last = key_time(p.first, p.level), key_time(p.last, p.level)
        while t <= last:
            following = _step(t, p.level)
            hour = t
            while hour < following:
                out.append(hour)
                hour += timedelta(hours=1)
            t = following
    return out


hours = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda t: t.replace(minute=0, second=0, microsecond=0)
)


@settings(max_examples=200, deadline=None)
@given(hours, st.integers(min_value=1, max_value=24 * 800))
def test_a_cover_tiles_the_period_hour_by_hour_exactly_once(start, length):
    end = start + timedelta(hours=length)
    pieces = cover(start, end, SERIES_COVER)
    assert pieces is not None
    held = _hours(pieces)
    assert held == [start + timedelta(hours=i) for i in range(length)]
    # Few buckets: at most 23 + 30 edge hours and days each side, the rest whole months.
    assert sum(1 for p in pieces if p.level == "h") <= 2
    assert len(pieces) <= 5


def test_whole_days_cover_with_years_months_and_days_and_cut_days_do_not():
    year = cover(datetime(2026, 1, 1), datetime(2027, 1, 1), EXTENSION_COVER)
    assert [(p.level, p.first, p.last) for p in year] == [("y", 2026, 2026)]
    odd = cover(datetime(2026, 1, 30), datetime(2026, 4, 2), EXTENSION_COVER)
    assert [(p.level, p.first, p.last) for p in odd] == [
        ("d", 20260130, 20260131), ("m", 202602, 202603), ("d", 20260401, 20260401)]
    assert cover(datetime(2026, 1, 1, 10), datetime(2026, 2, 1), EXTENSION_COVER) is None


def test_the_heat_map_reads_months_by_weekday_hour_and_the_rest_by_hour():
    months, rest = week_pieces(datetime(2026, 1, 15), datetime(2026, 4, 1))
    assert [(p.level, p.first, p.last) for p in months] == [("w", 202602000, 202603623)]
    # A whole year is one piece of the yearly weekday-hour level, its rest months and hours.
    years, rest_of_year = week_pieces(datetime(2025, 12, 1), datetime(2027, 1, 1, 5))
    assert [(p.level, p.first, p.last) for p in years] == [("w", 202512000, 202512623), ("x", 2026000, 2026623)]
    assert [(p.level, p.first, p.last) for p in rest_of_year] == [("h", 2027010100, 2027010104)]
    assert [(p.level, p.first, p.last) for p in rest] == [("h", 2026011500, 2026013123)]
    assert weekday_of(2026120609) == 0  # a Sunday, numbered as SQLite's %w and PostgreSQL's DOW
    assert weekday_of(2026120709) == 1


def test_templates_cover_their_day_month_and_year():
    day = period_for(ReportTemplate.DAILY, date(2026, 10, 25))
    assert (day.start, day.end, day.grouping) == (datetime(2026, 10, 25), datetime(2026, 10, 26), Grouping.HOUR)
    assert len(labels(day)) == 24 and labels(day)[2] == "2026-10-25 02:00"
    month = period_for(ReportTemplate.MONTHLY, date(2024, 2, 10))
    assert (month.start, month.end) == (datetime(2024, 2, 1), datetime(2024, 3, 1))
    assert labels(month)[-1] == "2024-02-29"
    december = period_for(ReportTemplate.MONTHLY, date(2026, 12, 31))
    assert december.end == datetime(2027, 1, 1)
    year = period_for(ReportTemplate.YEARLY, date(2026, 6, 1))
    assert labels(year) == [f"2026-{m:02d}" for m in range(1, 13)]
    department = period_for(ReportTemplate.DEPARTMENT, date(2026, 12, 6))
    assert (department.start, department.end, department.grouping) == (
        datetime(2026, 12, 1), datetime(2027, 1, 1), Grouping.DEPARTMENT)


@pytest.mark.parametrize(
    ("days", "grouping"), [(1, Grouping.HOUR), (2, Grouping.HOUR), (3, Grouping.DAY), (62, Grouping.DAY),
                           (63, Grouping.MONTH), (400, Grouping.MONTH)])
def test_custom_reports_group_as_their_length_suggests(days, grouping):
    start = datetime(2026, 1, 15, 10)
    period = period_for(ReportTemplate.CUSTOM, date(2026, 1, 1), start, start + timedelta(days=days))
    assert period.grouping is grouping
    bounds = edges(period)
    assert bounds[0] == start and bounds[-1] == start + timedelta(days=days)
    assert len(bounds) == len(labels(period)) + 1


def test_custom_periods_are_checked():
    with pytest.raises(InvalidInput) as missing:
        period_for(ReportTemplate.CUSTOM, date(2026, 1, 1))
    assert missing.value.field == "from"
    with pytest.raises(InvalidInput) as backwards:
        period_for(ReportTemplate.CUSTOM, date(2026, 1, 1), datetime(2026, 2, 1), datetime(2026, 1, 1))
    assert (backwards.value.field, backwards.value.code) == ("to", "out_of_order")
    with pytest.raises(InvalidInput) as long:
        period_for(ReportTemplate.CUSTOM, date(2026, 1, 1), datetime(2000, 1, 1), datetime(2030, 1, 1))
    assert long.value.code == "out_of_range"


def test_peaks_per_bucket():
    # Two calls overlap in the first bucket; the third starts as the first ends (no overlap).
    assert peaks([(0, 10), (5, 15), (10, 20)], [0, 10, 20, 30]) == [2, 2, 0]
    assert peaks([(-5, 3)], [0, 10]) == [1]  # a call begun before the period runs into it
    assert peaks([(0, 10), (10, 20)], [0, 10, 20]) == [1, 1]
    assert peaks([(1, 1), (2, 2)], [0, 10]) == [0]  # no length: never in progress
    assert peaks([(0, 100)], [10, 20, 30, 40]) == [1, 1, 1]  # spans every bucket
    assert peaks([(0, 20), (0, 20)], [20, 30]) == [0]  # ended at the bucket's start
    assert peaks([], [0, 10]) == [0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 30)), max_size=30), st.integers(1, 10))
def test_peaks_equal_the_most_calls_at_any_instant(calls, width):
    intervals = [(float(s), float(s + d)) for s, d in calls]
    bounds = [float(b) for b in range(0, 140, width)]
    found = peaks(intervals, bounds)
    for i in range(len(bounds) - 1):
        # Half-second steps see every instant: calls start and end on whole seconds.
        instants = [bounds[i] + k / 2 for k in range(int((bounds[i + 1] - bounds[i]) * 2))]
        expected = max(sum(1 for s, e in intervals if s <= t < e) for t in instants)
        assert found[i] == expected


def test_a_fourth_report_at_once_waits_then_is_told_to_come_back(monkeypatch):
    from appliance.errors import Busy
    from appliance.services import reports

    monkeypatch.setattr(reports, "BUILD_WAIT_S", 0.05)
    held = [reports._one_build() for _ in range(3)]
    for build in held:
        build.__enter__()
    try:
        with pytest.raises(Busy) as busy, reports._one_build():
            pass
        assert busy.value.retry_after == 5
    finally:
        for build in held:
            build.__exit__(None, None, None)
    with reports._one_build():  # free again
        pass
