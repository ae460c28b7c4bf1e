"""When a saved schedule runs next: the manual's backup policies (every N, daily, weekly,
monthly) in the appliance's time zone, across daylight-saving changes.

Rules the policies follow, beyond the manual:
- An interval counts elapsed time from the previous planned run (its anchor), so a
  clock change never stretches or shortens it and runs do not drift.
- A wall-clock time that does not exist on a day (the spring gap) runs at the first
  instant after the gap, the moment the clocks jump.
- A wall-clock time that happens twice on a day (the autumn fold) runs once, at its
  first occurrence.
- A monthly date a month lacks (the 31st in April) is skipped that month, not moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from appliance.errors import InvalidInput


class Policy(StrEnum):
    INTERVAL = "INTERVAL"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


class IntervalUnit(StrEnum):
    DAYS = "DAYS"
    HOURS = "HOURS"
    MINUTES = "MINUTES"
    SECONDS = "SECONDS"  # the manual's "每隔" is given as days and HH:MM:SS


UNIT_SECONDS = {
    IntervalUnit.DAYS: 86400,
    IntervalUnit.HOURS: 3600,
    IntervalUnit.MINUTES: 60,
    IntervalUnit.SECONDS: 1,
}
MAX_INTERVAL_S = 366 * 86400
# The longest wait between allowed days: a monthly schedule on the 31st only (Jul 31 to
# Aug 31 is the shortest, Dec 31 to Jan 31, but Jan 31 to Mar 31 is 59 days).
_SEARCH_DAYS = 62


@dataclass(frozen=True)
class Schedule:
    """One policy; the fields a policy does not use stay at their defaults."""

    policy: Policy
    every: int = 0  # INTERVAL: how many units
    unit: IntervalUnit = IntervalUnit.MINUTES
    at: time = time(0, 0)  # DAILY, WEEKLY, MONTHLY: local wall-clock time, to the minute
    weekdays: frozenset[int] = frozenset()  # WEEKLY: ISO days, 1 = Monday … 7 = Sunday
    month_days: frozenset[int] = frozenset()  # MONTHLY: 1 … 31

    @classmethod
    def interval(cls, every: int, unit: IntervalUnit) -> Schedule:
        return cls(Policy.INTERVAL, every=every, unit=unit).validate()

    @classmethod
    def daily(cls, at: time) -> Schedule:
        return cls(Policy.DAILY, at=at).validate()

    @classmethod
    def weekly(cls, weekdays: set[int] | frozenset[int], at: time) -> Schedule:
        return cls(Policy.WEEKLY, at=at, weekdays=frozenset(weekdays)).validate()

    @classmethod
    def monthly(cls, month_days: set[int] | frozenset[int], at: time) -> Schedule:
        return cls(Policy.MONTHLY, at=at, month_days=frozenset(month_days)).validate()

    @property
    def period(self) -> timedelta:
        """An interval schedule's length."""
        return timedelta(seconds=self.every * UNIT_SECONDS[self.unit])

    def validate(self) -> Schedule:
        if self.policy is Policy.INTERVAL:
            if self.every < 1:
                raise InvalidInput(
                    "every must be at least 1",
                    field="every",
                    code="out_of_range",
                    params={"min": 1, "max_days": MAX_INTERVAL_S // 86400, "value": self.every},
                )
            if self.period.total_seconds() > MAX_INTERVAL_S:
                raise InvalidInput(
                    "an interval may be at most 366 days",
                    field="every",
                    code="interval_too_long",
                    params={"max_days": MAX_INTERVAL_S // 86400, "value": self.every},
                )
            return self
        if self.at.second or self.at.microsecond or self.at.tzinfo is not None:
            raise InvalidInput(
                "at is a local time in whole minutes (HH:MM)", field="at", code="not_a_time"
            )
        if self.policy is Policy.WEEKLY:
            if not self.weekdays:
                raise InvalidInput("choose at least one weekday", field="weekdays", code="required")
            if not self.weekdays <= set(range(1, 8)):
                raise InvalidInput(
                    "weekdays are 1 (Monday) to 7 (Sunday)",
                    field="weekdays",
                    code="out_of_range",
                    params={"min": 1, "max": 7},
                )
        if self.policy is Policy.MONTHLY:
            if not self.month_days:
                raise InvalidInput("choose at least one date", field="month_days", code="required")
            if not self.month_days <= set(range(1, 32)):
                raise InvalidInput(
                    "dates are 1 to 31",
                    field="month_days",
                    code="out_of_range",
                    params={"min": 1, "max": 31},
                )
        return self

    def runs_on(self, day: date) -> bool:
        """Whether a local date is one the policy runs on (every date for DAILY)."""
        if self.policy is Policy.WEEKLY:
            return day.isoweekday() in self.weekdays
        if self.policy is Policy.MONTHLY:
            return day.day in self.month_days
        return True

    def to_spec(self) -> str:
        """The stored form (JSON); from_spec reads it back."""
        spec: dict[str, Any] = {"policy": self.policy.value}
        if self.policy is Policy.INTERVAL:
            spec |= {"every": self.every, "unit": self.unit.value}
        else:
            spec["at"] = self.at.strftime("%H:%M")
        if self.policy is Policy.WEEKLY:
            spec["weekdays"] = sorted(self.weekdays)
        if self.policy is Policy.MONTHLY:
            spec["month_days"] = sorted(self.month_days)
        return json.dumps(spec, separators=(",", ":"))

    @classmethod
    def from_spec(cls, spec: str) -> Schedule:
        try:
            raw = json.loads(spec)
            policy = Policy(raw["policy"])
            if policy is Policy.INTERVAL:
                return cls(
                    policy, every=int(raw["every"]), unit=IntervalUnit(raw["unit"])
                ).validate()
            hour, minute = (int(part) for part in str(raw["at"]).split(":"))
            return cls(
                policy,
                at=time(hour, minute),
                weekdays=frozenset(int(d) for d in raw.get("weekdays", [])),
                month_days=frozenset(int(d) for d in raw.get("month_days", [])),
            ).validate()
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"unreadable schedule {spec!r}: {exc}", field="schedule") from None

    def next_run(self, now: datetime, zone: tzinfo, anchor: datetime | None = None) -> datetime:
        """The first run strictly after now (aware, UTC). An interval counts from anchor
        (the previous planned run) when given, else from now."""
        _require_aware(now, "now")
        now = now.astimezone(UTC)
        if self.policy is Policy.INTERVAL:
            if anchor is None:
                return now + self.period
            _require_aware(anchor, "anchor")
            anchor = anchor.astimezone(UTC)
            if anchor > now:
                return anchor
            periods = (now - anchor) // self.period + 1
            return anchor + periods * self.period
        day = now.astimezone(zone).date()
        for _ in range(_SEARCH_DAYS + 1):
            if self.runs_on(day):
                run = wall_clock_to_utc(day, self.at, zone)
                if run > now:
                    return run
            day += timedelta(days=1)
        raise AssertionError(f"no run within {_SEARCH_DAYS} days of {now}: {self}")


def wall_clock_to_utc(day: date, at: time, zone: tzinfo) -> datetime:
    """The instant a local wall-clock time names: its first occurrence in a fold, the end
    of the gap when the clocks skip it."""
    first = datetime.combine(day, at, tzinfo=zone)  # fold=0: the earlier reading
    instant = first.astimezone(UTC)
    read_back = instant.astimezone(zone)
    if (read_back.date(), read_back.time()) == (first.date(), first.time()):
        return instant
    # In a gap fold=0 reads the time with the offset before the change, which lands past
    # the jump, and fold=1 with the offset after it, which lands before: the jump lies
    # between. Offsets change on whole seconds.
    low = int(first.replace(fold=1).astimezone(UTC).timestamp())
    high = int(instant.timestamp())
    if low > high:
        low, high = high, low
    before = datetime.fromtimestamp(low, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone(name: str, field: str = "time_zone") -> ZoneInfo:
    """The IANA zone of that name; a name the zone database lacks is refused."""
    if name not in _zone_names():
        raise InvalidInput(
            f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai)",
            field=field,
            code="unknown_time_zone",
            params={"value": name},
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"{name!r} is not an IANA time zone",
            field=field,
            code="unknown_time_zone",
            params={"value": name},
        ) from None


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")
