"""Calls being captured: one row per call, kept by the capture process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from appliance.db.recording_queries import scope_condition
from appliance.db.sql import from_db_time, rows, run, to_db_time
from appliance.domain.organization import Scope


@dataclass(frozen=True)
class ActiveCallRow:
    call_key: str
    device_id: int | None
    caller: str
    callee: str
    started_at: datetime


def insert(
    call_key: str,
    device_id: int | None,
    caller: str,
    callee: str,
    orgs: tuple[int | None, int | None],
    started_at: datetime,
) -> None:
    run(
        "INSERT INTO active_call (call_key, device_id, caller, callee, caller_org_id, "
        "callee_org_id, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [call_key, device_id, caller, callee, orgs[0], orgs[1], to_db_time(started_at)],
    )


def update(
    call_key: str,
    device_id: int | None,
    caller: str,
    callee: str,
    orgs: tuple[int | None, int | None],
) -> bool:
    """Change a call's row; False when it has none yet."""
    cursor = run(
        "UPDATE active_call SET device_id = ?, caller = ?, callee = ?, caller_org_id = ?, "
        "callee_org_id = ? WHERE call_key = ?",
        [device_id, caller, callee, orgs[0], orgs[1], call_key],
    )
    return bool(cursor.rowcount)


def delete(call_key: str) -> None:
    run("DELETE FROM active_call WHERE call_key = ?", [call_key])


def keys() -> list[str]:
    return [r[0] for r in rows("SELECT call_key FROM active_call")]


def visible(scope: Scope) -> list[ActiveCallRow]:
    """The calls the scope sees (the same rule as recordings), oldest first."""
    where: list[str] = []
    params: list[object] = []
    if not scope_condition(scope, where, params):
        return []
    sql = "SELECT call_key, device_id, caller, callee, started_at FROM active_call r"
    if where:
        sql += " WHERE " + " AND ".join(where)
    found = rows(sql + " ORDER BY started_at, call_key", params)
    return [ActiveCallRow(r[0], r[1], r[2], r[3], from_db_time(r[4])) for r in found]


def every_row() -> list[tuple[object, ...]]:
    """Each call's row whole, by key: what a watcher compares to notice any change."""
    return [
        tuple(r)
        for r in rows(
            "SELECT call_key, device_id, caller, callee, caller_org_id, callee_org_id, "
            "started_at FROM active_call ORDER BY call_key"
        )
    ]
