"""The alarm list and the metric samples: raw SQL, so the compiled binary runs it as is."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from appliance.db.sql import delete_older, from_db_time, rows, run, scalar, to_db_time
from appliance.domain.alarms import Alarm, AlarmEvent, AlarmFilter, AlarmLevel, AlarmState
from appliance.domain.metrics import MetricSample

_COLUMNS = (
    "id, event, level, state, value, threshold, message, raised_at, cleared_at, "
    "acknowledged_at, acknowledged_by, params, subject, delivery"
)


def _object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _alarm(r: tuple[Any, ...]) -> Alarm:
    return Alarm(
        id=int(r[0]),
        event=AlarmEvent(r[1]),
        level=AlarmLevel(r[2]),
        state=AlarmState(r[3]),
        value=None if r[4] is None else float(r[4]),
        threshold=None if r[5] is None else float(r[5]),
        message=r[6],
        raised_at=from_db_time(r[7]),
        cleared_at=None if r[8] is None else from_db_time(r[8]),
        acknowledged_at=None if r[9] is None else from_db_time(r[9]),
        acknowledged_by=r[10] or None,
        params=_object(r[11]),
        subject=r[12] or "",
        delivery={str(k): str(v) for k, v in _object(r[13]).items()},
    )


def active(event: AlarmEvent, subject: str) -> Alarm | None:
    found = rows(
        f"SELECT {_COLUMNS} FROM alarm WHERE event = ? AND subject = ? AND state = 'ACTIVE'",
        [event.value, subject],
    )
    return _alarm(found[0]) if found else None


def all_active() -> list[Alarm]:
    return [
        _alarm(r)
        for r in rows(f"SELECT {_COLUMNS} FROM alarm WHERE state = 'ACTIVE' ORDER BY raised_at, id")
    ]


def insert(
    event: AlarmEvent,
    subject: str,
    level: AlarmLevel,
    value: float | None,
    threshold: float | None,
    message: str,
    params: dict[str, Any],
    raised_at: datetime,
    cleared_at: datetime | None = None,
) -> int:
    state = AlarmState.CLEARED if cleared_at is not None else AlarmState.ACTIVE
    run(
        "INSERT INTO alarm (event, subject, level, state, value, threshold, message, params, "
        "raised_at, cleared_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            event.value,
            subject,
            level.value,
            state.value,
            value,
            threshold,
            message,
            json.dumps(params, ensure_ascii=False, default=str),
            to_db_time(raised_at),
            None if cleared_at is None else to_db_time(cleared_at),
        ],
    )
    return int(
        scalar(
            "SELECT MAX(id) FROM alarm WHERE event = ? AND subject = ? AND raised_at = ?",
            [event.value, subject, to_db_time(raised_at)],
        )
    )


def clear(alarm_id: int, at: datetime) -> None:
    """The alarm keeps the value that raised it; the clear adds its time."""
    run(
        "UPDATE alarm SET state = 'CLEARED', cleared_at = ? WHERE id = ? AND state = 'ACTIVE'",
        [to_db_time(at), alarm_id],
    )


def set_delivery(alarm_id: int, channel: str, outcome: str) -> None:
    """Note how one channel's notification went (kept with the alarm, shown in the list)."""
    found = rows("SELECT delivery FROM alarm WHERE id = ?", [alarm_id])
    if not found:
        return
    delivery = _object(found[0][0])
    delivery[channel] = outcome
    run(
        "UPDATE alarm SET delivery = ? WHERE id = ?",
        [json.dumps(delivery, ensure_ascii=False), alarm_id],
    )


def raised_since(event: AlarmEvent, subject: str, since: datetime) -> bool:
    """Whether this occurrence was raised at or after `since` (an abort already reported)."""
    return (
        scalar(
            "SELECT COUNT(*) FROM alarm WHERE event = ? AND subject = ? AND raised_at >= ?",
            [event.value, subject, to_db_time(since)],
        )
        or 0
    ) > 0


def acknowledge(alarm_id: int, at: datetime, by: str) -> bool:
    cursor = run(
        "UPDATE alarm SET acknowledged_at = ?, acknowledged_by = ? "
        "WHERE id = ? AND acknowledged_at IS NULL",
        [to_db_time(at), by, alarm_id],
    )
    return int(cursor.rowcount) > 0


def by_id(alarm_id: int) -> Alarm | None:
    found = rows(f"SELECT {_COLUMNS} FROM alarm WHERE id = ?", [alarm_id])
    return _alarm(found[0]) if found else None


def _where(f: AlarmFilter) -> tuple[str, list[Any]]:
    where = ["1 = 1"]
    params: list[Any] = []
    for column, value in (("event", f.event), ("level", f.level), ("state", f.state)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value.value)
    if f.raised_from is not None:
        where.append("raised_at >= ?")
        params.append(to_db_time(f.raised_from))
    if f.raised_to is not None:
        where.append("raised_at <= ?")
        params.append(to_db_time(f.raised_to))
    if f.acknowledged is not None:
        where.append(f"acknowledged_at IS {'NOT ' if f.acknowledged else ''}NULL")
    if f.text:
        escaped = f.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("(LOWER(message) LIKE ? ESCAPE '\\' OR LOWER(subject) LIKE ? ESCAPE '\\')")
        params += [f"%{escaped}%", f"%{escaped}%"]
    return " AND ".join(where), params


def search(f: AlarmFilter, limit: int, offset: int) -> tuple[int, list[Alarm]]:
    where, params = _where(f)
    total = int(scalar(f"SELECT COUNT(*) FROM alarm WHERE {where}", params) or 0)
    found = rows(
        f"SELECT {_COLUMNS} FROM alarm WHERE {where} ORDER BY raised_at DESC, id DESC "
        "LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return total, [_alarm(r) for r in found]


def delete_before(before: datetime, limit: int) -> int:
    return delete_older("alarm", "raised_at", before, limit, "state = 'CLEARED'")


def add_sample(s: MetricSample) -> None:
    run(
        "INSERT INTO metric_sample (at, cpu, memory, disk, active_calls, packets_per_s, drops, "
        "setups, refused) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            to_db_time(s.at),
            s.cpu_percent,
            s.memory_percent,
            s.disk_percent,
            s.active_calls,
            s.packets_per_s,
            s.drops,
            s.setups_last_minute,
            s.refused_last_minute,
        ],
    )


def samples_since(since: datetime) -> list[MetricSample]:
    found = rows(
        "SELECT at, cpu, memory, disk, active_calls, packets_per_s, drops, setups, refused "
        "FROM metric_sample WHERE at >= ? ORDER BY at",
        [to_db_time(since)],
    )
    return [
        MetricSample(
            at=from_db_time(r[0]),
            cpu_percent=float(r[1]),
            memory_percent=float(r[2]),
            disk_percent=float(r[3]),
            active_calls=int(r[4]),
            packets_per_s=float(r[5]),
            drops=int(r[6]),
            setups_last_minute=int(r[7]),
            refused_last_minute=int(r[8]),
        )
        for r in found
    ]


def delete_samples_before(before: datetime, limit: int) -> int:
    return delete_older("metric_sample", "at", before, limit)


def last_recording_at() -> datetime | None:
    """When the newest recording (live or since deleted) arrived."""
    value = scalar("SELECT created_at FROM recording ORDER BY created_at DESC LIMIT 1")
    return None if value is None else from_db_time(value)


def stored_since(since: datetime) -> int:
    return int(
        scalar("SELECT COUNT(*) FROM recording WHERE created_at >= ?", [to_db_time(since)]) or 0
    )
