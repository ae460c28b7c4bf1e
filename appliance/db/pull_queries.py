"""Pull devices' runs (next run, lease, progress, last result) and the files they fetched.

The lease is taken as job_queries takes a job's: one UPDATE whose WHERE says it is free."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.db.sql import from_db_time, rows, run, to_db_time


@dataclass(frozen=True)
class PullStateRow:
    device_id: int
    lease_owner: str | None
    lease_until: datetime | None
    progress: str
    last_run: str
    last_run_at: datetime | None
    failures: int


def _aware(value: Any) -> datetime | None:
    return None if value is None else from_db_time(value)


def ensure(device_id: int) -> None:
    run(
        "INSERT INTO pull_state (device_id) VALUES (?) ON CONFLICT (device_id) DO NOTHING",
        [device_id],
    )


def state(device_id: int) -> PullStateRow | None:
    found = rows(f"SELECT {_STATE_COLUMNS} FROM pull_state WHERE device_id = ?", [device_id])
    return _state(found[0]) if found else None


_STATE_COLUMNS = "device_id, lease_owner, lease_until, progress, last_run, last_run_at, failures"


def _state(r: tuple[Any, ...]) -> PullStateRow:
    return PullStateRow(r[0], r[1], _aware(r[2]), r[3], r[4], _aware(r[5]), r[6])


def all_states() -> dict[int, PullStateRow]:
    """Every pull device's state (a few dozen devices at most)."""
    return {r[0]: _state(r) for r in rows(f"SELECT {_STATE_COLUMNS} FROM pull_state")}


def schedules() -> list[tuple[int, int, str]]:
    """(id, interval, unit) of every pull device."""
    found = rows(
        "SELECT id, pull_interval, pull_interval_unit FROM device WHERE mode = 'PULL' ORDER BY id"
    )
    return [(r[0], r[1], r[2]) for r in found]


def take_lease(device_id: int, owner: str, at: datetime, until: datetime) -> bool:
    cursor = run(
        "UPDATE pull_state SET lease_owner = ?, lease_until = ?, progress = ''"
        " WHERE device_id = ? AND (lease_until IS NULL OR lease_until < ?)",
        [owner, to_db_time(until), device_id, to_db_time(at)],
    )
    return bool(cursor.rowcount == 1)


def renew_lease(device_id: int, owner: str, until: datetime, progress: str) -> bool:
    cursor = run(
        "UPDATE pull_state SET lease_until = ?, progress = ? WHERE device_id = ?"
        " AND lease_owner = ?",
        [to_db_time(until), progress, device_id, owner],
    )
    return bool(cursor.rowcount == 1)


def finish(device_id: int, owner: str, at: datetime, last_run: str, failed: bool) -> int:
    """Free the lease and keep the run's result; the count of failed runs in a row."""
    run(
        "UPDATE pull_state SET lease_owner = NULL, lease_until = NULL, progress = '',"
        " last_run = ?, last_run_at = ?,"
        " failures = CASE WHEN ? THEN failures + 1 ELSE 0 END"
        " WHERE device_id = ? AND lease_owner = ?",
        [last_run, to_db_time(at), failed, device_id, owner],
    )
    found = rows("SELECT failures FROM pull_state WHERE device_id = ?", [device_id])
    return int(found[0][0]) if found else 0


def fetched_keys(device_id: int) -> set[tuple[str, int, int]]:
    """(path, size, mtime) of every file fetched from the device: one query per run."""
    found = run("SELECT path, size, mtime FROM pulled_file WHERE device_id = ?", [device_id])
    return {(r[0], int(r[1]), int(r[2])) for r in found.fetchall()}


def remember(
    device_id: int, path: str, size: int, mtime: int, recording_id: int | None, at: datetime
) -> None:
    run(
        "INSERT INTO pulled_file (device_id, path, size, mtime, recording_id, fetched_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, path, size, mtime) DO NOTHING",
        [device_id, path, size, mtime, recording_id, to_db_time(at)],
    )


def forget_device(device_id: int) -> None:
    run("DELETE FROM pulled_file WHERE device_id = ?", [device_id])
    run("DELETE FROM pull_state WHERE device_id = ?", [device_id])
