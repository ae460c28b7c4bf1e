"""Rules about recordings: SN, file names, search filters, durations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from appliance.errors import InvalidInput


class RecordingKind(StrEnum):
    CALL = "call"
    VOICEMAIL = "voicemail"


class DeletionReason(StrEnum):
    """Why a recording was deleted: a person's deletion takes it out of the statistics,
    circular recording's leaves it there (the call happened)."""

    DELETED = "deleted"
    CIRCULAR = "circular"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"
    INTERNAL = "internal"


PARTY_CHARS = r"A-Za-z0-9+*#._@:\-"
PARTY_MAX = 64
PARTY_RE = re.compile(rf"^[{PARTY_CHARS}]{{0,{PARTY_MAX}}}$")
_NOT_PARTY = re.compile(rf"[^{PARTY_CHARS}]")
CALL_ID_MAX = 200
# Where the file store puts a recording (recordings/YYYY/MM/DD/<random>.<ext>[.enc]); a path
# from elsewhere (a paired appliance) must have this form to be written or removed.
STORED_PATH = re.compile(r"recordings/\d{4}/\d{2}/\d{2}/[0-9a-f]{32}\.[a-z0-9]{1,5}(\.enc)?")
MAX_SCORE = 100
MAX_TAG_LENGTH = 32
FILTER_TEXT_MAX = 128
# An upload's start: none before the Unix epoch, and a day's margin below year 9999 so the
# conversions to UTC and to the appliance's time zone cannot overflow.
EARLIEST_START = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_START = datetime(9998, 12, 31, tzinfo=UTC)


def check_party(field: str, value: str) -> str:
    """A caller/callee number or SIP user part: short, printable, no separators."""
    value = value.strip()
    if not PARTY_RE.match(value):
        raise InvalidInput(
            f"{field}: up to {PARTY_MAX} characters of letters, digits and + * # . _ @ : -",
            field=field,
            params={"max": PARTY_MAX},
        )
    return value


def clean_party(value: str) -> str:
    """What check_party accepts, from a party a device names and we cannot refuse (SIPREC
    metadata, From/To): other characters dropped, then cut to the limit."""
    return _NOT_PARTY.sub("", value)[:PARTY_MAX]


def sn_base(started_local: datetime, callee: str) -> str:
    """The manual's readable SN, e.g. 20210113_150102_269; callers add a suffix if taken."""
    safe_callee = re.sub(r"[^A-Za-z0-9+*#]", "", callee) or "0"
    return f"{started_local:%Y%m%d_%H%M%S}_{safe_callee}"


def sn_with_suffix(base: str, n: int) -> str:
    return base if n == 0 else f"{base}_{n}"


def archive_name(caller: str, callee: str, started_local: datetime, ext: str) -> str:
    """Zip entry name "主叫-被叫-时间" from the manual: caller-callee-YYYYMMDDHHMMSS.ext."""

    def clean(part: str) -> str:
        return re.sub(r"[^A-Za-z0-9+*#._@]", "_", part) or "unknown"

    return f"{clean(caller)}-{clean(callee)}-{started_local:%Y%m%d%H%M%S}.{ext}"


def unique_names(names: list[str]) -> list[str]:
    """Make names unique by adding (2), (3)... before the extension, in order."""
    seen: dict[str, int] = {}
    taken: set[str] = set()
    out = []
    for name in names:
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        candidate = name
        n = seen.get(name, 1)
        while candidate in taken:
            n += 1
            candidate = f"{stem}({n}){dot}{ext}"
        seen[name] = n
        taken.add(candidate)
        out.append(candidate)
    return out


def format_duration(seconds: int) -> str:
    """hh:mm:ss as in the list's duration column."""
    h, rem = divmod(max(0, seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def check_score(score: int) -> int:
    if not 0 <= score <= MAX_SCORE:
        raise InvalidInput(
            f"score must be between 0 and {MAX_SCORE}",
            field="score",
            code="out_of_range",
            params={"min": 0, "max": MAX_SCORE, "value": score},
        )
    return score


def check_tag(name: str, offset: float | None, duration: int | None) -> tuple[str, float | None]:
    name = name.strip()
    if not name or len(name) > MAX_TAG_LENGTH:
        raise InvalidInput(
            f"tag must be 1 to {MAX_TAG_LENGTH} characters",
            field="name",
            code="too_long" if name else "required",
            params={"max": MAX_TAG_LENGTH},
        )
    if offset is not None:
        if offset < 0 or (duration is not None and offset > duration + 1):
            raise InvalidInput(
                "tag offset must lie within the recording",
                field="offset",
                code="out_of_range",
                params={"min": 0, "max": duration, "value": offset},
            )
    return name, offset


@dataclass(frozen=True)
class RecordingFilter:
    """Every search condition of the manual; all combine with AND. None means unset."""

    kind: RecordingKind | None = RecordingKind.CALL
    device: str | None = None
    tag: str | None = None
    caller: str | None = None
    callee: str | None = None
    caller_org: str | None = None
    callee_org: str | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    sn: str | None = None
    score: int | None = None

    def validate(self) -> RecordingFilter:
        for name in ("device", "tag", "caller", "callee", "caller_org", "callee_org", "sn"):
            value = getattr(self, name)
            if value is not None and len(value) > FILTER_TEXT_MAX:
                raise InvalidInput(
                    f"{name}: at most {FILTER_TEXT_MAX} characters",
                    field=name,
                    code="too_long",
                    params={"max": FILTER_TEXT_MAX},
                )
            # NUL and lone surrogates reach no column (PostgreSQL refuses them outright).
            if value is not None and not _storable(value):
                raise InvalidInput(
                    f"{name}: control characters are not allowed",
                    field=name,
                    code="invalid_format",
                )
        if self.min_duration is not None and self.min_duration < 0:
            raise InvalidInput(
                "minDuration must not be negative",
                field="min_duration",
                code="out_of_range",
                params={"min": 0, "value": self.min_duration},
            )
        if (
            self.min_duration is not None
            and self.max_duration is not None
            and self.min_duration > self.max_duration
        ):
            raise InvalidInput(
                "minDuration is above maxDuration", field="min_duration", code="out_of_order"
            )
        if self.started_from and self.started_to and self.started_from > self.started_to:
            raise InvalidInput(
                "startedFrom is after startedTo", field="started_from", code="out_of_order"
            )
        if self.score is not None:
            check_score(self.score)
        return self


def party_pattern(value: str) -> tuple[str, bool]:
    """A number filter is exact ("201"), or a prefix when it ends with '*' ("0301*")."""
    if value.endswith("*") and len(value) > 1:
        return value[:-1], True
    return value, False


def _storable(text: str) -> bool:
    return text.isprintable() and not any("\ud800" <= c <= "\udfff" for c in text)


def sn_prefix(value: str) -> str:
    """An SN filter is the beginning of the SNs it finds ("20240501_0930"); a trailing '*',
    as number filters take, means the same."""
    return party_pattern(value)[0]


def sn_start_window(prefix: str) -> tuple[datetime, datetime] | None:
    """The start times an SN prefix can name, when it names at least a day.

    An SN begins with its call's start, YYYYMMDD, in the zone the appliance had then (UTC
    before the time-zone setting), so the day's UTC window widened by a day each side holds
    every match. Searches use it to read one window of the time index, not the whole of it.
    """
    digits = re.match(r"(\d{4})(\d{2})(\d{2})", prefix)
    if digits is None:
        return None
    try:
        year, month, date = (int(g) for g in digits.groups())
        day = datetime(year, month, date, tzinfo=UTC)
        return day - timedelta(days=1), day + timedelta(days=2)
    except (ValueError, OverflowError):  # no such day, or the first or last days there are
        return None


@dataclass(frozen=True)
class RecordingMeta:
    """What every source says about a recording it hands in: an upload's form fields
    (SPEC R-API, through parse), a SIPREC call's metadata, later a pulled file's name."""

    call_id: str
    caller: str
    callee: str
    started_at: datetime  # aware
    kind: RecordingKind
    direction: Direction | None

    @classmethod
    def parse(cls, fields: dict[str, str]) -> RecordingMeta:
        """From an upload's form fields, refusing what the HTTP contract does not allow."""
        call_id = fields.get("call_id", "").strip()
        if not call_id:
            raise InvalidInput("call_id is required", field="call_id", code="required")
        if len(call_id) > CALL_ID_MAX or not call_id.isprintable():
            raise InvalidInput(
                f"call_id: printable, at most {CALL_ID_MAX} characters",
                field="call_id",
                params={"max": CALL_ID_MAX},
            )
        raw_time = fields.get("started_at", "").strip()
        if not raw_time:
            raise InvalidInput(
                "started_at is required (ISO 8601 with offset)", field="started_at", code="required"
            )
        try:
            started = datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"started_at: {raw_time[:40]!r} is not ISO 8601 (e.g. 2024-05-01T09:30:00+08:00)",
                field="started_at",
                code="not_a_time",
            ) from None
        if started.tzinfo is None:
            raise InvalidInput(
                "started_at needs a UTC offset, e.g. +08:00", field="started_at", code="not_a_time"
            )
        if not EARLIEST_START <= started <= LATEST_START:
            raise InvalidInput(
                f"started_at: {raw_time[:40]!r} is not between {EARLIEST_START:%Y-%m-%d} and"
                f" {LATEST_START:%Y-%m-%d} (UTC)",
                field="started_at",
                code="out_of_range",
                params={
                    "min": EARLIEST_START.isoformat(),
                    "max": LATEST_START.isoformat(),
                    "value": raw_time[:40],
                },
            )
        try:
            kind = RecordingKind(fields.get("kind", "call").strip() or "call")
        except ValueError:
            raise InvalidInput(
                "kind must be 'call' or 'voicemail'",
                field="kind",
                code="one_of",
                params={"allowed": [k.value for k in RecordingKind]},
            ) from None
        raw_direction = fields.get("direction", "").strip()
        try:
            direction = Direction(raw_direction) if raw_direction else None
        except ValueError:
            raise InvalidInput(
                "direction must be 'in', 'out' or 'internal'",
                field="direction",
                code="one_of",
                params={"allowed": [d.value for d in Direction]},
            ) from None
        return cls(
            call_id=call_id,
            caller=check_party("caller", fields.get("caller", "")),
            callee=check_party("callee", fields.get("callee", "")),
            started_at=started,
            kind=kind,
            direction=direction,
        )
