"""Backup targets (their options, lease and progress), the sets on them, what each set
holds, and the backup log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.db.sql import from_db_time, rows, run, scalar, to_db_time
from appliance.domain.backup import (
    BackupLogEntry,
    BackupLogFilter,
    BackupResult,
    LogKind,
    TargetKind,
)


def _aware(value: Any) -> datetime | None:
    return None if value is None else from_db_time(value)


@dataclass(frozen=True)
class TargetRow:
    id: int
    kind: TargetKind
    enabled: bool
    location: str
    username: str
    password_sealed: str
    keep_months: int
    disk_limit_percent: int
    tls_fingerprint: str
    host_key: str
    lease_owner: str | None
    progress: str
    last_run_at: datetime | None
    last_result: str


_TARGET_COLUMNS = (
    "id, kind, enabled, location, username, password_sealed, keep_months, disk_limit_percent,"
    " tls_fingerprint, host_key, lease_owner, progress, last_run_at, last_result"
)


def _target(r: tuple[Any, ...]) -> TargetRow:
    return TargetRow(
        r[0], TargetKind(r[1]), bool(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
        r[11], _aware(r[12]), r[13],
    )  # fmt: skip


def targets() -> list[TargetRow]:
    return [_target(r) for r in rows(f"SELECT {_TARGET_COLUMNS} FROM backup_target ORDER BY id")]


def target(target_id: int) -> TargetRow | None:
    found = rows(f"SELECT {_TARGET_COLUMNS} FROM backup_target WHERE id = ?", [target_id])
    return _target(found[0]) if found else None


def insert_target(values: dict[str, Any], at: datetime) -> int:
    names = [*values, "created_at"]
    cursor = run(
        f"INSERT INTO backup_target ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        " RETURNING id",
        [*values.values(), to_db_time(at)],
    )
    return int(cursor.fetchone()[0])


def update_target(target_id: int, values: dict[str, Any]) -> None:
    assignments = ", ".join(f"{name} = ?" for name in values)
    run(f"UPDATE backup_target SET {assignments} WHERE id = ?", [*values.values(), target_id])


def delete_target(target_id: int) -> None:
    run("DELETE FROM backup_item WHERE target_id = ?", [target_id])
    run("DELETE FROM backup_set WHERE target_id = ?", [target_id])
    run("DELETE FROM backup_target WHERE id = ?", [target_id])


def take_lease(target_id: int, owner: str, at: datetime, until: datetime) -> bool:
    cursor = run(
        "UPDATE backup_target SET lease_owner = ?, lease_until = ?, progress = ''"
        " WHERE id = ? AND (lease_until IS NULL OR lease_until < ?)",
        [owner, to_db_time(until), target_id, to_db_time(at)],
    )
    return bool(cursor.rowcount == 1)


def renew_lease(target_id: int, owner: str, until: datetime, progress: str) -> bool:
    cursor = run(
        "UPDATE backup_target SET lease_until = ?, progress = ? WHERE id = ? AND lease_owner = ?",
        [to_db_time(until), progress, target_id, owner],
    )
    return bool(cursor.rowcount == 1)


def finish(target_id: int, owner: str, at: datetime, result: str) -> None:
    run(
        "UPDATE backup_target SET lease_owner = NULL, lease_until = NULL, progress = '',"
        " last_run_at = ?, last_result = ? WHERE id = ? AND lease_owner = ?",
        [to_db_time(at), result, target_id, owner],
    )


@dataclass(frozen=True)
class SetRow:
    id: int
    target_id: int
    name: str
    state: str  # OPEN, CLOSED, REMOVED
    created_at: datetime
    next_file: int
    next_part: int
    recordings: int
    bytes: int
    key_version: str


_SET_COLUMNS = (
    "id, target_id, name, state, created_at, next_file, next_part, recordings, bytes, key_version"
)


def _set(r: tuple[Any, ...]) -> SetRow:
    return SetRow(r[0], r[1], r[2], r[3], from_db_time(r[4]), r[5], r[6], r[7], r[8], r[9])


def open_set(target_id: int) -> SetRow | None:
    found = rows(
        f"SELECT {_SET_COLUMNS} FROM backup_set WHERE target_id = ? AND state = 'OPEN'"
        " ORDER BY id LIMIT 1",
        [target_id],
    )
    return _set(found[0]) if found else None


def create_set(target_id: int, name: str, at: datetime) -> SetRow:
    run(
        "INSERT INTO backup_set (target_id, name, state, created_at) VALUES (?, ?, 'OPEN', ?)",
        [target_id, name, to_db_time(at)],
    )
    found = open_set(target_id)
    assert found is not None
    return found


def sets(target_id: int, states: tuple[str, ...] = ("OPEN", "CLOSED")) -> list[SetRow]:
    marks = ", ".join("?" * len(states))
    found = rows(
        f"SELECT {_SET_COLUMNS} FROM backup_set WHERE target_id = ? AND state IN ({marks})"
        " ORDER BY id",
        [target_id, *states],
    )
    return [_set(r) for r in found]


def set_key_version(set_id: int, version: str) -> None:
    run("UPDATE backup_set SET key_version = ? WHERE id = ?", [version, set_id])


def commit_part(
    set_row: SetRow, items: list[tuple[int, int]], next_file: int, added_bytes: int
) -> None:
    """A manifest part landed: its recordings (id, file number) count as backed up."""
    for recording_id, file_no in items:
        run(
            "INSERT INTO backup_item (target_id, recording_id, set_id, file_no)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (target_id, recording_id) DO NOTHING",
            [set_row.target_id, recording_id, set_row.id, file_no],
        )
    run(
        "UPDATE backup_set SET next_file = ?, next_part = next_part + 1,"
        " recordings = recordings + ?, bytes = bytes + ? WHERE id = ?",
        [next_file, len(items), added_bytes, set_row.id],
    )


def close_set(set_id: int, at: datetime) -> None:
    run(
        "UPDATE backup_set SET state = 'CLOSED', closed_at = ? WHERE id = ?",
        [to_db_time(at), set_id],
    )


def mark_removed(set_id: int) -> None:
    run("UPDATE backup_set SET state = 'REMOVED' WHERE id = ?", [set_id])


def holds_protected(set_id: int) -> bool:
    return bool(
        scalar(
            "SELECT 1 FROM backup_item b JOIN recording r ON r.id = b.recording_id"
            " WHERE b.set_id = ? AND r.protected LIMIT 1",
            [set_id],
        )
    )


@dataclass(frozen=True)
class PendingRow:
    id: int
    kind: str
    plain_size: int


def pending(target_id: int, after_id: int, limit: int) -> list[PendingRow]:
    """Live recordings not yet on the target, oldest id first."""
    found = rows(
        "SELECT r.id, r.kind, r.plain_size FROM recording r WHERE r.deleted_at IS NULL"
        " AND r.id > ? AND NOT EXISTS (SELECT 1 FROM backup_item b"
        " WHERE b.target_id = ? AND b.recording_id = r.id) ORDER BY r.id LIMIT ?",
        [after_id, target_id, limit],
    )
    return [PendingRow(r[0], r[1], r[2]) for r in found]


def pending_count(target_id: int) -> int:
    return int(
        scalar(
            "SELECT COUNT(*) FROM recording r WHERE r.deleted_at IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM backup_item b WHERE b.target_id = ? AND b.recording_id = r.id)",
            [target_id],
        )
    )


def add_log(
    at: datetime,
    kind: LogKind,
    target: str,
    result: BackupResult,
    counts: tuple[int, int, int],
    event: str,
    params: dict[str, Any],
    search: str,
) -> None:
    run(
        "INSERT INTO backup_log (at, kind, target, result, recordings, voicemails, bytes,"
        " event, params, search) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            to_db_time(at), kind.value, target, result.value, *counts, event,
            json.dumps(params, ensure_ascii=False), search,
        ],
    )  # fmt: skip


def _log_where(f: BackupLogFilter) -> tuple[str, list[Any]]:
    clauses, params = ["1 = 1"], []  # type: list[str], list[Any]
    if f.since is not None:
        clauses.append("at >= ?")
        params.append(to_db_time(f.since))
    if f.until is not None:
        clauses.append("at <= ?")
        params.append(to_db_time(f.until))
    if f.result is not None:
        clauses.append("result = ?")
        params.append(f.result.value)
    if f.keyword and f.keyword.strip():
        clauses.append("search LIKE ? ESCAPE '\\'")
        word = f.keyword.strip().lower()
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")
    return " AND ".join(clauses), params


_LOG_COLUMNS = "id, at, kind, target, result, recordings, voicemails, bytes, event, params"


def _log(r: tuple[Any, ...]) -> BackupLogEntry:
    return BackupLogEntry(
        r[0], from_db_time(r[1]), LogKind(r[2]), r[3], BackupResult(r[4]), r[5], r[6], r[7],
        r[8], json.loads(r[9]),
    )  # fmt: skip


def search_log(f: BackupLogFilter, offset: int, limit: int) -> tuple[int, list[BackupLogEntry]]:
    where, params = _log_where(f)
    total = int(scalar(f"SELECT COUNT(*) FROM backup_log WHERE {where}", params))
    found = rows(
        f"SELECT {_LOG_COLUMNS} FROM backup_log WHERE {where} ORDER BY at DESC, id DESC"
        " LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return total, [_log(r) for r in found]


def prune_log(before: datetime, limit: int) -> int:
    cursor = run(
        "DELETE FROM backup_log WHERE id IN (SELECT id FROM backup_log WHERE at < ? LIMIT ?)",
        [to_db_time(before), limit],
    )
    return int(cursor.rowcount)


# Raw SQL, never Pony's generator queries: the compiled binary has no bytecode to decompile.


def device_aliases(ids: list[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    return {r[0]: r[1] for r in rows(f"SELECT id, alias FROM device WHERE id IN ({marks})", wanted)}


@dataclass(frozen=True)
class TagRow:
    name: str
    position: float | None
    created_at: datetime


def tags_of(ids: list[int]) -> dict[int, list[TagRow]]:
    """Each recording's tags, oldest first."""
    wanted = sorted(set(ids))
    out: dict[int, list[TagRow]] = {}
    if not wanted:
        return out
    marks = ",".join("?" * len(wanted))
    found = rows(
        f"SELECT recording_id, name, position, created_at FROM tag WHERE recording_id IN ({marks})"
        " ORDER BY id",
        wanted,
    )
    for recording_id, name, position, created_at in found:
        out.setdefault(recording_id, []).append(TagRow(name, position, from_db_time(created_at)))
    return out


_NAMED = {"organization": "organization", "role": "role"}


def ids_by_name(table: str, names: list[str]) -> dict[str, int]:
    """Departments' or roles' ids by their (unique) names."""
    wanted = sorted({n for n in names if n})
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    found = rows(f"SELECT name, id FROM {_NAMED[table]} WHERE name IN ({marks})", wanted)
    return {r[0]: r[1] for r in found}
