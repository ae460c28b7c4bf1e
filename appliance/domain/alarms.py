"""Alarms (manual "监控告警"): the eight events and pulling's, their rules, and when one is raised or cleared.

Pure: the monitor feeds readings in, the decisions come out; no clock, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from appliance.domain.rules import check_count, check_length, check_range
from appliance.errors import InvalidInput


class AlarmEvent(StrEnum):
    """The manual's eight events, in its order, then the ones it did not have."""

    CPU_HIGH = "CPU_HIGH"
    MEMORY_HIGH = "MEMORY_HIGH"
    STORAGE_HIGH = "STORAGE_HIGH"
    CAPTURE_ABORTED = "CAPTURE_ABORTED"
    BACKUP_FAILED = "BACKUP_FAILED"
    SERVICE_ABORTED = "SERVICE_ABORTED"
    DATABASE_ERROR = "DATABASE_ERROR"
    NO_RECORDING = "NO_RECORDING"
    PULL_FAILED = "PULL_FAILED"  # a pull device failed several runs in a row
    TAKEOVER = "TAKEOVER"  # the standby took over from a silent primary


class AlarmLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class AlarmState(StrEnum):
    ACTIVE = "ACTIVE"
    CLEARED = "CLEARED"


# Events measured against a threshold: its range, default and unit.
THRESHOLDS: dict[AlarmEvent, tuple[int, int, int]] = {
    AlarmEvent.CPU_HIGH: (1, 100, 90),
    AlarmEvent.MEMORY_HIGH: (1, 100, 90),
    AlarmEvent.STORAGE_HIGH: (1, 100, 90),
    AlarmEvent.NO_RECORDING: (1, 10080, 180),  # minutes, a week at most; the manual's 180
}
UNITS = {
    AlarmEvent.CPU_HIGH: "%",
    AlarmEvent.MEMORY_HIGH: "%",
    AlarmEvent.STORAGE_HIGH: "%",
    AlarmEvent.NO_RECORDING: "min",
}
# A usage alarm clears this many points below its threshold, so a value hovering at the
# threshold raises one alarm rather than one per sample.
HYSTERESIS_POINTS = 5.0
RECIPIENTS_MAX = 20
TEXT_MAX = 100  # a search of the alarm list
_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def check_email(field: str, value: str) -> str:
    value = value.strip()
    if not _EMAIL.match(value):
        raise InvalidInput(
            f"{field}: {value!r} is not an e-mail address", field=field, code="invalid_format"
        )
    return value


@dataclass(frozen=True)
class EventRule:
    """How one event is reported: on screen, by e-mail to its recipients, at its level."""

    event: AlarmEvent
    on_screen: bool = True
    email: bool = False
    level: AlarmLevel = AlarmLevel.LOW  # the manual's default for every event
    threshold: int | None = None
    recipients: tuple[str, ...] = ()

    def validate(self) -> EventRule:
        bounds = THRESHOLDS.get(self.event)
        threshold = self.threshold
        if bounds is None:
            threshold = None
        elif threshold is None:
            threshold = bounds[2]
        else:
            check_range("threshold", threshold, bounds[0], bounds[1])
        check_count("recipients", self.recipients, RECIPIENTS_MAX)
        recipients = tuple(dict.fromkeys(check_email("recipients", r) for r in self.recipients))
        if self.email and not recipients:
            raise InvalidInput(
                "e-mail is on but no recipient is given", field="recipients", code="required"
            )
        return replace(self, threshold=threshold, recipients=recipients)

    def to_store(self) -> dict[str, Any]:
        return {
            "on_screen": self.on_screen,
            "email": self.email,
            "level": self.level.value,
            "threshold": self.threshold,
            "recipients": list(self.recipients),
        }

    @classmethod
    def from_store(cls, event: AlarmEvent, stored: dict[str, Any]) -> EventRule:
        """A stored rule; what cannot be read falls back to the event's default."""
        default = default_rule(event)
        try:
            return cls(
                event,
                on_screen=bool(stored.get("on_screen", default.on_screen)),
                email=bool(stored.get("email", default.email)),
                level=AlarmLevel(stored.get("level", default.level)),
                threshold=stored.get("threshold", default.threshold),
                recipients=tuple(str(r) for r in stored.get("recipients", ())),
            ).validate()
        except (InvalidInput, ValueError, TypeError):
            return default


def default_rule(event: AlarmEvent) -> EventRule:
    return EventRule(event).validate()


def rules_from_store(stored: dict[str, Any]) -> dict[AlarmEvent, EventRule]:
    """Every event's rule, in the manual's order, from the stored mapping."""
    return {
        e: EventRule.from_store(e, stored[e.value])
        if isinstance(stored.get(e.value), dict)
        else default_rule(e)
        for e in AlarmEvent
    }


@dataclass(frozen=True)
class Alarm:
    """One occurrence of an event: raised once, cleared once."""

    id: int
    event: AlarmEvent
    level: AlarmLevel
    state: AlarmState
    value: float | None
    threshold: float | None
    message: str  # the condition in plain words (logs, traps, e-mail subjects)
    raised_at: datetime
    cleared_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # what the message was made of
    subject: str = ""  # which service, for events that may be active for several at once
    delivery: dict[str, str] = field(default_factory=dict)  # channel -> "sent" or why not


@dataclass(frozen=True)
class AlarmFilter:
    event: AlarmEvent | None = None
    level: AlarmLevel | None = None
    state: AlarmState | None = None
    raised_from: datetime | None = None
    raised_to: datetime | None = None
    text: str | None = None
    acknowledged: bool | None = None  # False: those still waiting for someone (the pop-ups)

    def checked(self) -> AlarmFilter:
        """The filter, or the refusal of a text no alarm could hold."""
        if self.text is not None:
            check_length("text", self.text, TEXT_MAX)
            if not self.text.isprintable():
                raise InvalidInput(
                    "text: unprintable characters", field="text", code="invalid_format"
                )
        return self


class Decision(StrEnum):
    RAISE = "RAISE"
    CLEAR = "CLEAR"
    KEEP = "KEEP"


def decide(rule: EventRule, value: float | None, active: bool) -> Decision:
    """Raise, clear or keep an event measured against its threshold (usage, minutes)."""
    if value is None or rule.threshold is None:
        return Decision.KEEP
    threshold = float(rule.threshold)
    if not active:
        return Decision.RAISE if value >= threshold else Decision.KEEP
    # Minutes without a recording clear as soon as one arrives; usages a few points down.
    # (Never more than half the threshold: a threshold of 4 % must still clear.)
    margin = 0.0 if rule.event is AlarmEvent.NO_RECORDING else min(HYSTERESIS_POINTS, threshold / 2)
    return Decision.CLEAR if value < threshold - margin else Decision.KEEP


def decide_condition(holds: bool, active: bool) -> Decision:
    """Raise or clear an event that is a fact (a process died, the database is away)."""
    if holds and not active:
        return Decision.RAISE
    if not holds and active:
        return Decision.CLEAR
    return Decision.KEEP


def describe(event: AlarmEvent, value: float | None, threshold: float | None, **params: Any) -> str:
    """The alarm's condition in English, for logs, traps and as the list's fallback text."""
    unit = UNITS.get(event, "")

    def number(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    if event in (AlarmEvent.CPU_HIGH, AlarmEvent.MEMORY_HIGH, AlarmEvent.STORAGE_HIGH):
        what = {"CPU_HIGH": "CPU", "MEMORY_HIGH": "memory", "STORAGE_HIGH": "storage"}[event]
        return f"{what} usage {number(value)}{unit} reached the threshold {number(threshold)}{unit}"
    if event is AlarmEvent.NO_RECORDING:
        return f"no recording received for {number(value)} minutes (threshold {number(threshold)})"
    if event in (AlarmEvent.CAPTURE_ABORTED, AlarmEvent.SERVICE_ABORTED):
        service = params.get("service", "a service")
        return f"{service} process {params.get('pid', '?')} ended abnormally"
    if event is AlarmEvent.DATABASE_ERROR:
        return f"database connection error: {params.get('error', 'no answer')}"
    if event is AlarmEvent.BACKUP_FAILED:
        return f"backup failed: {params.get('error', 'see the backup log')}"
    if event is AlarmEvent.PULL_FAILED:
        return (
            f"fetching from device {params.get('device', '?')} failed {number(value)} times"
            f" in a row: {params.get('error', '?')}"
        )
    if event is AlarmEvent.TAKEOVER:
        return (
            f"took over as primary: {params.get('peer', 'the primary')} silent for"
            f" {number(value)} s"
        )
    return event.value
