"""Report maths (统计分析): periods, buckets, the roll-up levels that cover a period, peak
concurrency and the labels of a chart. No I/O: times here are the appliance's wall clock."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from appliance.domain.recordings import EARLIEST_START, LATEST_START
from appliance.errors import InvalidInput


class ReportTemplate(StrEnum):
    DAILY = "DAILY"
    MONTHLY = "MONTHLY"
    YEARLY = "YEARLY"
    DEPARTMENT = "DEPARTMENT"
    CUSTOM = "CUSTOM"


class ReportMeasure(StrEnum):
    CALLS = "CALLS"
    TALK_TIME = "TALK_TIME"


class Grouping(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"
    MONTH = "MONTH"
    DEPARTMENT = "DEPARTMENT"


class ExtensionSort(StrEnum):
    EXTENSION = "EXTENSION"
    NAME = "NAME"
    CALLS = "CALLS"
    TALK_TIME = "TALK_TIME"
    AVERAGE = "AVERAGE"
    OUTGOING = "OUTGOING"
    INCOMING = "INCOMING"


# A custom report over up to two days is drawn by hour, up to two months by day, else by
# month; longer than this is refused (a chart of 120 years says nothing).
HOURLY_UP_TO = timedelta(days=2)
DAILY_UP_TO = timedelta(days=62)
LONGEST = timedelta(days=366 * 20)
# Scoped or filtered reports compute peak concurrency from the calls themselves, so only
# over a range this long (a month of a manager's calls is 100,000s of rows at 10 M); the
# appliance's own peaks come from a per-day cache.
PEAK_SCAN_UP_TO = HOURLY_UP_TO
# A call that began this long before a period can still run into it (calls longer than a
# day are not counted in the next day's peak).
PEAK_LOOKBACK = timedelta(days=1)
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Period:
    """[start, end) in the appliance's wall-clock time, and how its chart is grouped."""

    start: datetime  # naive local
    end: datetime
    grouping: Grouping

    @property
    def hour_aligned(self) -> bool:
        return _aligned(self.start, "h") and _aligned(self.end, "h")

    @property
    def day_aligned(self) -> bool:
        return _aligned(self.start, "d") and _aligned(self.end, "d")


def _aligned(t: datetime, unit: str) -> bool:
    if t.minute or t.second or t.microsecond:
        return False
    return unit == "h" or t.hour == 0


def _month_start(d: date) -> datetime:
    return datetime(d.year, d.month, 1)


def _next_month(t: datetime) -> datetime:
    return datetime(t.year + t.month // 12, t.month % 12 + 1, 1)


def check_reportable(field: str, value: date | datetime | None) -> None:
    """A day or instant a call may have: reports go no further (nor do the calendar's
    arithmetic and the time zone's, which end at years 1 and 9999)."""
    if value is None:
        return
    if isinstance(value, datetime):
        inside = EARLIEST_START <= value <= LATEST_START
    else:
        inside = EARLIEST_START.date() <= value <= LATEST_START.date()
    if not inside:
        raise InvalidInput(
            "a report covers 1970 to 9998",
            field=field,
            code="out_of_range",
            params={"min": "1970-01-01", "max": "9998-12-31"},
        )


def _out_of_order(field: str) -> InvalidInput:
    return InvalidInput("the period ends before it starts", field=field, code="out_of_order")


def grouping_for(span: timedelta) -> Grouping:
    if span <= HOURLY_UP_TO:
        return Grouping.HOUR
    if span <= DAILY_UP_TO:
        return Grouping.DAY
    return Grouping.MONTH


def period_for(
    template: ReportTemplate,
    at: date,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Period:
    """The period a template covers: the day, month or year of `at`; for the department and
    custom templates the range given (the department template defaults to `at`'s month)."""
    if template is ReportTemplate.DAILY:
        first = datetime(at.year, at.month, at.day)
        return Period(first, first + timedelta(days=1), Grouping.HOUR)
    if template is ReportTemplate.MONTHLY:
        first = _month_start(at)
        return Period(first, _next_month(first), Grouping.DAY)
    if template is ReportTemplate.YEARLY:
        first = datetime(at.year, 1, 1)
        return Period(first, datetime(at.year + 1, 1, 1), Grouping.MONTH)
    if start is None or end is None:
        if template is ReportTemplate.CUSTOM:
            missing = "from" if start is None else "to"
            raise InvalidInput("a custom report needs from and to", field=missing, code="required")
        first = _month_start(at)
        start, end = first, _next_month(first)
    if end <= start:
        raise _out_of_order("to")
    if end - start > LONGEST:
        raise InvalidInput(
            "a report covers at most 20 years",
            field="to",
            code="out_of_range",
            params={"max": LONGEST.days},
        )
    if template is ReportTemplate.DEPARTMENT:
        return Period(start, end, Grouping.DEPARTMENT)
    return Period(start, end, grouping_for(end - start))


def hour_key(t: datetime) -> int:
    """YYYYMMDDHH of a wall-clock time: the roll-ups' hour bucket."""
    return t.year * 1_000_000 + t.month * 10_000 + t.day * 100 + t.hour


def key_time(key: int, level: str) -> datetime:
    """The wall-clock start of a bucket of a level (h, d, m, y)."""
    digits = {"h": 10, "d": 8, "m": 6, "y": 4}[level]
    text = f"{key:0{digits}d}"
    return datetime(
        int(text[0:4]),
        int(text[4:6] or 1),
        int(text[6:8] or 1),
        int(text[8:10] or 0),
    )


def _key(t: datetime, level: str) -> int:
    full = hour_key(t)
    return full // {"h": 1, "d": 100, "m": 10_000, "y": 1_000_000}[level]


@dataclass(frozen=True)
class Piece:
    """Buckets first..last (inclusive) of one roll-up level."""

    level: str
    first: int
    last: int


def _step(t: datetime, level: str) -> datetime:
    if level == "y":
        return datetime(t.year + 1, 1, 1)
    if level == "m":
        return _next_month(t)
    if level == "d":
        return t + timedelta(days=1)
    return t + timedelta(hours=1)


def _starts(t: datetime, level: str) -> bool:
    if level == "y":
        return t == datetime(t.year, 1, 1)
    if level == "m":
        return t == datetime(t.year, t.month, 1)
    if level == "d":
        return t == datetime(t.year, t.month, t.day)
    return t == t.replace(minute=0, second=0, microsecond=0)


def cover(start: datetime, end: datetime, levels: tuple[str, ...]) -> list[Piece] | None:
    """The fewest buckets of the given levels (coarsest first) that tile [start, end);
    None when the finest level cannot (the period cuts one of its buckets)."""
    pieces: list[Piece] = []
    t = start
    while t < end:
        for level in levels:
            following = _step(t, level)
            if _starts(t, level) and following <= end:
                key = _key(t, level)
                last = pieces[-1] if pieces else None
                if last and last.level == level and _step(key_time(last.last, level), level) == t:
                    pieces[-1] = Piece(level, last.first, key)
                else:
                    pieces.append(Piece(level, key, key))
                t = following
                break
        else:
            return None
    return pieces


SERIES_COVER = ("m", "d", "h")
EXTENSION_COVER = ("y", "m", "d")


# The weekday-hour levels a heat map reads, by the calendar level they split: `x` buckets
# are YYYY*1000 + weekday*100 + hour, `w` buckets YYYYMM*1000 + weekday*100 + hour. A year
# has 168 of them per pair of departments where its months have 2,016.
WEEK_LEVELS = {"y": "x", "m": "w"}


def week_pieces(start: datetime, end: datetime) -> tuple[list[Piece], list[Piece]] | None:
    """The heat map's cover: whole years and months from the weekday-hour levels, the rest
    from hours."""
    pieces = cover(start, end, ("y", "m", "h"))
    if pieces is None:
        return None
    weeks = [
        Piece(WEEK_LEVELS[p.level], p.first * 1000, p.last * 1000 + 623)
        for p in pieces
        if p.level in WEEK_LEVELS
    ]
    return weeks, [p for p in pieces if p.level == "h"]


def labels(period: Period) -> list[str]:
    """The chart's categories, in order: every hour, day or month of the period."""
    if period.grouping is Grouping.DEPARTMENT:
        return []
    out: list[str] = []
    t = _floor(period.start, period.grouping)
    while t < period.end:
        out.append(label_of(t, period.grouping))
        t = _advance(t, period.grouping)
    return out


def _floor(t: datetime, grouping: Grouping) -> datetime:
    if grouping is Grouping.HOUR:
        return t.replace(minute=0, second=0, microsecond=0)
    if grouping is Grouping.DAY:
        return datetime(t.year, t.month, t.day)
    return datetime(t.year, t.month, 1)


def _advance(t: datetime, grouping: Grouping) -> datetime:
    if grouping is Grouping.HOUR:
        return t + timedelta(hours=1)
    if grouping is Grouping.DAY:
        return t + timedelta(days=1)
    return _next_month(t)


def label_of(t: datetime, grouping: Grouping) -> str:
    if grouping is Grouping.HOUR:
        return f"{t:%Y-%m-%d %H}:00"
    if grouping is Grouping.DAY:
        return f"{t:%Y-%m-%d}"
    return f"{t:%Y-%m}"


def label_of_key(key: int, level: str, grouping: Grouping) -> str:
    """The chart category a roll-up bucket falls in."""
    return label_of(key_time(key, level), grouping)


def edges(period: Period) -> list[datetime]:
    """The wall-clock boundaries of the chart's categories, clipped to the period."""
    if period.grouping is Grouping.DEPARTMENT:
        return [period.start, period.end]
    out = [period.start]
    t = _advance(_floor(period.start, period.grouping), period.grouping)
    while t < period.end:
        out.append(t)
        t = _advance(t, period.grouping)
    out.append(period.end)
    return out


def weekday_of(key: int) -> int:
    """0 (Sunday) to 6 of an hour key, as the roll-ups number weekdays."""
    return (key_time(key, "h").weekday() + 1) % 7


def peaks(intervals: Iterable[tuple[float, float]], boundaries: Sequence[float]) -> list[int]:
    """The most calls in progress at once within each [boundaries[i], boundaries[i+1]).

    intervals: (start, end) in the boundaries' unit (exact: the appliance gives whole
    milliseconds, so equal instants compare equal). At one instant calls end before others start, so
    back-to-back calls do not overlap; a call of no length is never in progress."""
    count = len(boundaries) - 1
    out = [0] * max(0, count)
    if count <= 0:
        return out
    deltas: dict[float, int] = {}
    for start, end in intervals:
        if end > start:
            deltas[start] = deltas.get(start, 0) + 1
            deltas[end] = deltas.get(end, 0) - 1
    level = 0
    bucket = -1  # the last bucket the sweep has entered
    for t in sorted(deltas):
        if t >= boundaries[-1]:
            break
        if t >= boundaries[0]:
            index = bisect.bisect_right(boundaries, t) - 1
            while bucket < index:
                bucket += 1
                # Calls running before t ran in every bucket passed over, and in t's own
                # bucket unless t is where it begins.
                if bucket < index or t > boundaries[bucket]:
                    out[bucket] = max(out[bucket], level)
        level += deltas[t]
        if bucket >= 0:
            out[bucket] = max(out[bucket], level)
    while bucket < count - 1:
        bucket += 1
        out[bucket] = max(out[bucket], level)
    return out
