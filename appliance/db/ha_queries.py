"""Primary and standby in the database: this side's state, the peer's key and cursor, and
the rows the primary sends (recordings with their tags, scores and plays; the
configuration) and the standby applies, as they are, idempotently."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from appliance.db.account_queries import delete_sessions_of
from appliance.db.database import provider
from appliance.db.org_queries import set_party_org
from appliance.db.sql import from_db_time, rows, run, scalar, to_db_time
from appliance.domain.events import EventKind
from appliance.domain.ha import CHILD_COLUMNS

STATE_COLUMNS = (
    "role", "peer_address", "recording_sync", "config_sync", "period_seconds",
    "takeover_seconds", "witness", "secret_sealed", "peer_cert", "paired_at", "epoch",
    "peer_seen_at", "last_sync_at", "lag_recordings", "lag_seconds", "sync_requested_at",
    "last_error", "promoted_at", "peer_role", "peer_epoch", "vrrp_state", "failback_requested_at",
)  # fmt: skip
_STATE_TIMES = {
    "paired_at", "peer_seen_at", "last_sync_at", "sync_requested_at", "promoted_at",
    "failback_requested_at",
}  # fmt: skip


def state() -> dict[str, Any]:
    """This side's row, times aware UTC."""
    found = rows(f"SELECT {', '.join(STATE_COLUMNS)} FROM ha_state WHERE id = 1")
    values = dict(zip(STATE_COLUMNS, found[0], strict=True))
    for name in _STATE_TIMES:
        if values[name] is not None:
            values[name] = from_db_time(values[name])
    for name in ("recording_sync", "config_sync"):
        values[name] = bool(values[name])
    return values


def update_state(**values: Any) -> None:
    unknown = set(values) - set(STATE_COLUMNS)
    assert not unknown, unknown
    if not values:
        return
    params = [
        to_db_time(v)
        if isinstance(v, datetime)
        else bool(v)
        if k in ("recording_sync", "config_sync")
        else v
        for k, v in values.items()
    ]
    run(f"UPDATE ha_state SET {', '.join(f'{k} = ?' for k in values)} WHERE id = 1", params)


def peer_keys_sealed() -> list[str]:
    return [r[0] for r in rows("SELECT key_sealed FROM ha_key ORDER BY added_at")]


def add_peer_key(fingerprint: str, sealed: str, at: datetime) -> None:
    run(
        "INSERT INTO ha_key (fingerprint, key_sealed, added_at) VALUES (?, ?, ?) "
        "ON CONFLICT (fingerprint) DO UPDATE SET key_sealed = excluded.key_sealed",
        [fingerprint, sealed, to_db_time(at)],
    )


def applied(peer: str) -> int:
    return int(scalar("SELECT applied_id FROM ha_cursor WHERE peer = ?", [peer]) or 0)


def set_applied(peer: str, last_id: int) -> None:
    run(
        "INSERT INTO ha_cursor (peer, applied_id) VALUES (?, ?) "
        "ON CONFLICT (peer) DO UPDATE SET applied_id = excluded.applied_id",
        [peer, last_id],
    )


_RECORDING_KINDS = tuple(
    k.value
    for k in (
        EventKind.RECORDING_STORED,
        EventKind.RECORDING_IMPORTED,
        EventKind.RECORDING_DELETED,
    )
)


def lag_after(last_id: int) -> tuple[int, datetime | None]:
    """Recordings stored or deleted after `last_id`, and when the oldest of them was."""
    marks = ", ".join("?" for _ in _RECORDING_KINDS)
    count, oldest = rows(
        f"SELECT COUNT(*), MIN(at) FROM event_log WHERE id > ? AND kind IN ({marks})",
        [last_id, *_RECORDING_KINDS],
    )[0]
    return int(count), None if oldest is None else from_db_time(oldest)


# --- values on the wire: JSON, converted to the receiving database's column types -------


def _portable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, memoryview)):
        raise TypeError("binary columns are not synced")
    return value


def _select(sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cursor = run(sql, params)
    names = [d[0] for d in cursor.description]
    return [{n: _portable(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


_TYPES: dict[str, dict[str, str]] = {}


def _column_kinds(table: str) -> dict[str, str]:
    """Each column of a table here: ts, bool, json or other (cached per process)."""
    if table in _TYPES:
        return _TYPES[table]
    if provider() == "postgres":
        found = rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            [table],
        )
    else:
        found = [(r[1], r[2]) for r in rows(f"PRAGMA table_info({table})")]
    kinds = {}
    for name, declared in found:
        text = str(declared).lower()
        kinds[str(name)] = (
            "ts" if ("timestamp" in text or "datetime" in text)
            else "bool" if "bool" in text
            else "json" if "json" in text
            else "other"
        )  # fmt: skip
    _TYPES[table] = kinds
    return kinds


def _local(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "ts":
        return to_db_time(from_db_time(value))
    if kind == "bool":
        return bool(value) if provider() == "postgres" else int(bool(value))
    if kind == "json" and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return value


def _insert(table: str, row: dict[str, Any], returning: str = "") -> Any:
    kinds = _column_kinds(table)
    names = [n for n in row if n in kinds]
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})" + (
        f" RETURNING {returning}" if returning else ""
    )
    cursor = run(sql, [_local(kinds[n], row[n]) for n in names])
    return cursor.fetchone()[0] if returning else None


def _update(table: str, row: dict[str, Any], key: tuple[str, ...]) -> int:
    kinds = _column_kinds(table)
    names = [n for n in row if n in kinds and n not in key]
    if not names:
        return int(
            scalar(f"SELECT COUNT(*) FROM {table} WHERE {_where(key)}", [row[k] for k in key])
        )
    cursor = run(
        f"UPDATE {table} SET {', '.join(f'{n} = ?' for n in names)} WHERE {_where(key)}",
        [*(_local(kinds[n], row[n]) for n in names), *(row[k] for k in key)],
    )
    return int(cursor.rowcount)


def _where(key: tuple[str, ...]) -> str:
    return " AND ".join(f"{k} = ?" for k in key)


# --- recordings ----------------------------------------------------------------------------

_CHILDREN = {table: tuple(columns) for table, columns in CHILD_COLUMNS.items()}


def _divergent(call_id: str, sha256: str) -> str:
    """The call id a second recording of one call gets here: the peer's copy of a call this
    side also recorded, with other audio (a split, an SRC that tried both)."""
    return f"{call_id}~{sha256[:12]}"


def _own_call(call_id: str, sha256: str) -> str:
    suffix = "~" + sha256[:12]
    return call_id[: -len(suffix)] if call_id.endswith(suffix) else call_id


def recording_payload(recording_id: int) -> dict[str, Any] | None:
    """A recording's row as the standby needs it (everything but its id), with its tags,
    scores and plays; None when it is gone (a later deletion follows in the log)."""
    found = _select("SELECT * FROM recording WHERE id = ?", [recording_id])
    if not found:
        return None
    row = found[0]
    row.pop("id")
    row["call_id"] = _own_call(row["call_id"], row["sha256"])
    children = {
        table: _select(
            f"SELECT {', '.join(columns)} FROM {table} WHERE recording_id = ? ORDER BY id",
            [recording_id],
        )
        for table, columns in _CHILDREN.items()
    }
    return {"row": row, **children}


@dataclass(frozen=True)
class Applied:
    recording_id: int
    created: bool


def _device_here(device_id: Any) -> int | None:
    if device_id is None:
        return None
    return int(device_id) if scalar("SELECT 1 FROM device WHERE id = ?", [device_id]) else None


def find_replica(device_id: Any, call_id: str, sha256: str) -> tuple[int, str, str, Any] | None:
    """This side's copy of the peer's recording (its device, call and audio): id, relpath,
    sha256, deleted_at."""
    here = _device_here(device_id)
    device = "device_id = ?" if here is not None else "device_id IS NULL"
    found = rows(
        f"SELECT id, relpath, sha256, deleted_at FROM recording "
        f"WHERE call_id IN (?, ?) AND {device} AND sha256 = ?",
        [call_id, _divergent(call_id, sha256), *([here] if here is not None else []), sha256],
    )
    return (int(found[0][0]), found[0][1], found[0][2], found[0][3]) if found else None


def _call_taken(device_id: int | None, call_id: str) -> bool:
    device = "device_id = ?" if device_id is not None else "device_id IS NULL"
    params = [call_id, *([device_id] if device_id is not None else [])]
    return scalar(f"SELECT 1 FROM recording WHERE call_id = ? AND {device}", params) is not None


_MUTABLE = (
    "score", "play_count", "tag_count", "protected", "deleted_at", "deleted_reason",
    "caller_org_id", "callee_org_id",
)  # fmt: skip


def apply_recording(payload: dict[str, Any], free_sn: Any) -> Applied:
    """Insert or bring up to date one recording from the peer, with its tags, scores and
    plays. An SN another recording holds here gets the next free one (free_sn(sn)); a call
    this side recorded with other audio keeps both recordings."""
    row = dict(payload["row"])
    row["device_id"] = _device_here(row.get("device_id"))
    existing = find_replica(row["device_id"], row["call_id"], row["sha256"])
    if existing is not None:
        recording_id, created = existing[0], False
        _update("recording", {"id": recording_id, **{k: row.get(k) for k in _MUTABLE}}, ("id",))
    else:
        if _call_taken(row["device_id"], row["call_id"]):
            row["call_id"] = _divergent(row["call_id"], row["sha256"])
        row["sn"] = free_sn(row["sn"])
        recording_id, created = int(_insert("recording", row, returning="id")), True
    for table, columns in _CHILDREN.items():
        run(f"DELETE FROM {table} WHERE recording_id = ?", [recording_id])
        for child in payload.get(table, []):
            _insert(table, {"recording_id": recording_id, **{c: child.get(c) for c in columns}})
    return Applied(recording_id, created)


def apply_deletion(
    device_id: Any, call_id: str, sha256: str, reason: str, at: datetime
) -> str | None:
    """Mark the recording deleted as the peer did; its file's relpath to remove, or None
    when it is not here or already deleted."""
    found = find_replica(device_id, call_id, sha256)
    if found is None or found[3] is not None:
        return None
    run(
        "UPDATE recording SET deleted_at = ?, deleted_reason = ? WHERE id = ?",
        [to_db_time(at), reason, found[0]],
    )
    return found[1]


def identity_of(recording_id: int) -> tuple[Any, str, str] | None:
    """A recording's device, call and audio, by which the peer finds its copy (deleted
    ones too)."""
    found = rows("SELECT device_id, call_id, sha256 FROM recording WHERE id = ?", [recording_id])
    if not found:
        return None
    device_id, call_id, sha256 = found[0]
    return device_id, _own_call(call_id, sha256), sha256


def recording_ids_after(after_id: int, limit: int) -> list[int]:
    """Every recording (deleted ones too) after an id: a new standby's full copy."""
    return [
        int(r[0])
        for r in rows(
            "SELECT id FROM recording WHERE id > ? ORDER BY id LIMIT ?", [after_id, limit]
        )
    ]


def oldest_event_id() -> int | None:
    value = scalar("SELECT MIN(id) FROM event_log")
    return None if value is None else int(value)


# --- configuration -----------------------------------------------------------------------


@dataclass(frozen=True)
class Mirrored:
    """A configuration table the standby holds exactly as the primary (ids included, so
    recordings' devices and departments mean the same on both)."""

    name: str
    key: tuple[str, ...] = ("id",)
    link: bool = False  # a pure link table: replaced whole
    detach: tuple[str, ...] = ()  # nullable references cleared before rows are removed
    # Unique columns, moved out of the way before the rows are written: two rows that
    # swapped names (or one renamed to another's old name) would otherwise clash.
    unique: tuple[str, ...] = ()


# In reference order: a table only refers to tables before it.
MIRRORED = (
    Mirrored("setting", key=("key",)),
    Mirrored("device", unique=("alias",)),
    Mirrored("organization", detach=("device_id", "parent_id"), unique=("name", "prefix")),
    Mirrored("role", unique=("name",)),
    Mirrored("app_user", detach=("organization_id",), unique=("login",)),
    Mirrored("role_department", key=("role_id", "organization_id"), link=True),
    Mirrored("user_role", key=("user_id", "role_id"), link=True),
    Mirrored("api_token", unique=("token_hash",)),
    Mirrored("extension_owner", key=("device_id", "extension"), link=True),
    Mirrored("extension_owner_revision"),
)


def configuration() -> dict[str, list[dict[str, Any]]]:
    return {t.name: _select(f"SELECT * FROM {t.name}") for t in MIRRORED}


def _parents_first(orgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {o["id"]: o for o in orgs}
    placed: set[Any] = set()
    ordered: list[dict[str, Any]] = []

    def place(org: dict[str, Any], depth: int) -> None:
        if org["id"] in placed or depth > 1000:
            return
        parent = by_id.get(org.get("parent_id"))
        if parent is not None:
            place(parent, depth + 1)
        placed.add(org["id"])
        ordered.append(org)

    for org in orgs:
        place(org, 0)
    return ordered


def apply_configuration(snapshot: dict[str, list[dict[str, Any]]]) -> list[int]:
    """Make the mirrored tables equal the snapshot; the users whose sign-in changed
    (removed, disabled, new password), whose sessions here must end."""
    before = {
        int(r[0]): (r[1], bool(r[2]))
        for r in rows("SELECT id, password_hash, enabled FROM app_user")
    }
    owners_before = {
        (int(r[0]), r[1]): r[2]
        for r in rows("SELECT device_id, extension, organization_id FROM extension_owner")
    }
    given = {t.name: snapshot.get(t.name, []) for t in MIRRORED}
    for table in MIRRORED:  # nullable references go first, so removals cannot break them
        if table.detach:
            run(f"UPDATE {table.name} SET {', '.join(f'{c} = NULL' for c in table.detach)}")
    for table in reversed(MIRRORED):
        if table.link:
            run(f"DELETE FROM {table.name}")
            continue
        keep = {tuple(r[k] for k in table.key) for r in given[table.name]}
        here = rows(f"SELECT {', '.join(table.key)} FROM {table.name}")
        gone = [k for k in (tuple(r) for r in here) if k not in keep]
        if table.name == "app_user" and gone:
            for (user_id,) in gone:
                delete_sessions_of(user_id)
                run("DELETE FROM api_token WHERE user_id = ?", [user_id])
        for key in gone:
            run(f"DELETE FROM {table.name} WHERE {_where(table.key)}", list(key))
    for table in MIRRORED:  # every row left is in the snapshot, which rewrites these
        if table.unique:
            moved = ", ".join(
                f"{c} = '~ha~' || CAST(id AS TEXT) || '~' || {c}" for c in table.unique
            )
            run(f"UPDATE {table.name} SET {moved}")
    for table in MIRRORED:
        wanted = given[table.name]
        if table.name == "organization":
            wanted = _parents_first(wanted)
        for row in wanted:
            if table.link or not _update(table.name, row, table.key):
                _insert(table.name, row)
        if provider() == "postgres" and table.key == ("id",):
            run(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"GREATEST(COALESCE((SELECT MAX(id) FROM {table.name}), 0), 1))"
            )
    # An extension that changed department takes its calls along, as on the primary (whose
    # re-pointing of recordings is no event of its own).
    owners_after = {
        (int(r["device_id"]), r["extension"]): r["organization_id"]
        for r in given["extension_owner"]
    }
    for key in owners_before.keys() | owners_after.keys():
        if owners_before.get(key) != owners_after.get(key):
            set_party_org(key[0], key[1], owners_after.get(key))
    after = {int(r["id"]): (r["password_hash"], bool(r["enabled"])) for r in given["app_user"]}
    return sorted(
        user_id
        for user_id, (hashed, enabled) in before.items()
        if user_id not in after or after[user_id][0] != hashed or not after[user_id][1]
    )
