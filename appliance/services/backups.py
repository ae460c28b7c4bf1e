"""Backups' use cases that touch the database: targets, policies, the passphrase and the
backup key, each target's lease and progress, what a set holds, and restoring a recording's
row. The runs themselves (files, transfers) are appliance.backup's."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pony.orm import db_session
from pony.orm.core import TransactionIntegrityError

from appliance.db import backup_queries, recording_queries, settings_queries
from appliance.db.backup_queries import PendingRow, SetRow, TargetRow
from appliance.db.entities import Device, Recording, Tag, by_id
from appliance.domain.audit import AuditType
from appliance.domain.backup import (
    BackupTargetSpec,
    TargetKind,
    TargetLocation,
    check_passphrase,
    parse_location,
)
from appliance.domain.devices import normal_fingerprint
from appliance.domain.events import EventKind
from appliance.domain.recordings import sn_with_suffix
from appliance.domain.schedule import Schedule, time_zone
from appliance.errors import InvalidInput, NotFound
from appliance.media import backup_key
from appliance.media.backup_key import KeyFile
from appliance.media.crypto import MasterKey
from appliance.media.store import StoredFile
from appliance.services import audit, events, settings
from appliance.services.catalogue import views_of
from appliance.services.context import Actor, utcnow

POLICIES_SETTING = "backup.policies"  # the schedules' specs, a JSON list
NEXT_RUN_SETTING = "backup.next_run_at"  # when the policies next start a run (UTC)
KEY_SETTING = "backup.key"  # the backup key, sealed with the master key
KEY_FILE_SETTING = "backup.key_file"  # the same key wrapped by the passphrase
CONFIG_SETTING = "backup.include_config"  # "1": each set carries the configuration too
TARGETS_MAX = 16
POLICIES_MAX = 16


@dataclass(frozen=True)
class BackupTargetView:
    id: int
    kind: TargetKind
    enabled: bool
    location: str
    username: str
    password_set: bool
    keep_months: int
    disk_limit_percent: int
    tls_fingerprint: str
    host_key: str
    running: bool
    progress: dict[str, Any]
    last_run_at: datetime | None
    last_result: dict[str, Any]


def _view(row: TargetRow) -> BackupTargetView:
    return BackupTargetView(
        id=row.id,
        kind=row.kind,
        enabled=row.enabled,
        location=row.location,
        username=row.username,
        password_set=bool(row.password_sealed),
        keep_months=row.keep_months,
        disk_limit_percent=row.disk_limit_percent,
        tls_fingerprint=row.tls_fingerprint,
        host_key=row.host_key,
        running=row.lease_owner is not None,
        progress=json.loads(row.progress) if row.progress else {},
        last_run_at=row.last_run_at,
        last_result=json.loads(row.last_result) if row.last_result else {},
    )


@dataclass(frozen=True)
class TargetConfig:
    """What one run needs about its target, the password opened."""

    id: int
    where: TargetLocation
    username: str
    password: str
    tls_fingerprint: str
    host_key: str
    keep_months: int
    disk_limit_percent: int


@db_session
def targets(actor: Actor) -> list[BackupTargetView]:
    actor.require_admin()
    return [_view(r) for r in backup_queries.targets()]


@db_session
def enabled_target_ids() -> list[int]:
    return [r.id for r in backup_queries.targets() if r.enabled]


def _target_row(target_id: int) -> TargetRow:
    found = backup_queries.target(target_id)
    if found is None:
        raise NotFound(f"no backup target {target_id}", code="not_found")
    return found


@db_session
def target_view(actor: Actor, target_id: int) -> BackupTargetView:
    actor.require_admin()
    return _view(_target_row(target_id))


@db_session
def set_target(
    actor: Actor,
    target_id: int | None,
    spec: BackupTargetSpec,
    master: MasterKey,
    recordings_dir: Path,
) -> BackupTargetView:
    """Add (target_id None) or change a target; a password left out keeps the saved one."""
    actor.require_admin()
    where = spec.validate()
    if where.kind is TargetKind.LOCAL and Path(where.path).resolve().is_relative_to(
        recordings_dir.resolve()
    ):
        # The orphan sweep would take the sets for files no recording names.
        raise InvalidInput(
            "location: a folder outside the recordings' own", field="location", code="in_use",
            params={"value": where.path, "by": "recordings"},
        )  # fmt: skip
    values: dict[str, Any] = {
        "kind": spec.kind.value,
        "enabled": spec.enabled,
        "location": where.label(),
        "username": spec.username.strip(),
        "keep_months": spec.keep_months,
        "disk_limit_percent": spec.disk_limit_percent,
        "tls_fingerprint": normal_fingerprint(spec.tls_fingerprint),
    }
    if spec.password is not None:
        values["password_sealed"] = master.seal_text(spec.password) if spec.password else ""
    if target_id is None:
        if len(backup_queries.targets()) >= TARGETS_MAX:
            raise InvalidInput(
                f"at most {TARGETS_MAX} targets", code="too_many", params={"max": TARGETS_MAX}
            )
        if spec.kind is not TargetKind.LOCAL and not spec.password:
            raise InvalidInput("a password is needed", field="password", code="required")
        target_id = backup_queries.insert_target(values, utcnow())
    else:
        before = _target_row(target_id)
        if before.location != values["location"] or before.kind.value != values["kind"]:
            values["host_key"] = ""  # another server: its key is pinned afresh
            was = parse_location(before.kind, before.location)
            if spec.password is None and (was.host, was.port) != (where.host, where.port):
                # The saved password is never sent to a server it was not given for.
                raise InvalidInput(
                    "another server: give its password", field="password", code="required"
                )
        backup_queries.update_target(target_id, values)
    audit.record(
        actor,
        AuditType.SETTINGS,
        "backup_target_saved",
        kind=spec.kind.value,
        location=where.label(),
        enabled=str(spec.enabled).lower(),
    )
    events.record(EventKind.BACKUP_SETTINGS_CHANGED, actor, target=target_id)
    return _view(_target_row(target_id))


@db_session
def delete_target(actor: Actor, target_id: int) -> None:
    actor.require_admin()
    row = _target_row(target_id)
    backup_queries.delete_target(target_id)
    audit.record(
        actor,
        AuditType.SETTINGS,
        "backup_target_deleted",
        kind=row.kind.value,
        location=row.location,
    )
    events.record(EventKind.BACKUP_SETTINGS_CHANGED, actor, target=target_id, deleted=True)


@db_session
def target_config(target_id: int, master: MasterKey) -> TargetConfig:
    row = _target_row(target_id)
    return TargetConfig(
        id=row.id,
        where=parse_location(row.kind, row.location),
        username=row.username,
        password=master.open_text(row.password_sealed) if row.password_sealed else "",
        tls_fingerprint=row.tls_fingerprint,
        host_key=row.host_key,
        keep_months=row.keep_months,
        disk_limit_percent=row.disk_limit_percent,
    )


@db_session
def pin_host_key(target_id: int, host_key: str) -> None:
    """An SFTP target's host key, trusted at its first sign-in."""
    row = _target_row(target_id)
    if not row.host_key and host_key:
        backup_queries.update_target(target_id, {"host_key": host_key})


# --- policies ---------------------------------------------------------------------------


def _stored(key: str) -> str:
    return settings_queries.load_all().get(key, "")


@db_session
def policies(actor: Actor) -> list[Schedule]:
    actor.require_admin()
    return _policies()


def _policies() -> list[Schedule]:
    text = _stored(POLICIES_SETTING)
    return [Schedule.from_spec(spec) for spec in json.loads(text)] if text else []


@db_session
def set_policies(actor: Actor, schedules: list[Schedule]) -> list[Schedule]:
    actor.require_admin()
    if len(schedules) > POLICIES_MAX:
        raise InvalidInput(
            f"at most {POLICIES_MAX} policies", code="too_many", params={"max": POLICIES_MAX}
        )
    checked = [s.validate() for s in schedules]
    settings_queries.save({POLICIES_SETTING: json.dumps([s.to_spec() for s in checked])})
    _plan(utcnow(), checked, None)
    audit.record(
        actor,
        AuditType.SETTINGS,
        "backup_policies_saved",
        policies="; ".join(s.to_spec() for s in checked) or "-",
    )
    events.record(EventKind.BACKUP_SETTINGS_CHANGED, actor, policies=len(checked))
    return checked


def _plan(now: datetime, schedules: list[Schedule], anchor: datetime | None) -> None:
    if not schedules:
        settings_queries.remove(NEXT_RUN_SETTING)
        return
    zone = time_zone(settings.current().time_zone)
    upcoming = [s.next_run(now, zone, anchor) for s in schedules]
    settings_queries.save({NEXT_RUN_SETTING: min(upcoming).isoformat()})


@db_session
def take_due(now: datetime) -> bool:
    """Whether the policies want a run now; if so the next one is planned at once, so a
    second scheduler asking next finds nothing due."""
    text = _stored(NEXT_RUN_SETTING)
    schedules = _policies()
    if not schedules:
        return False
    if not text:
        _plan(now, schedules, None)
        return False
    planned = datetime.fromisoformat(text)
    if planned > now:
        return False
    _plan(now, schedules, planned)
    return True


@db_session
def next_run_at() -> datetime | None:
    text = _stored(NEXT_RUN_SETTING)
    return datetime.fromisoformat(text) if text else None


# --- the passphrase and the backup key -------------------------------------------------


def set_passphrase(actor: Actor, passphrase: str, master: MasterKey) -> None:
    """The first passphrase makes the backup key; a later one rewraps the same key, so the
    sets already written stay readable (their key files are rewritten by the next run)."""
    actor.require_admin()
    check_passphrase(passphrase)
    with db_session:
        sealed = _stored(KEY_SETTING)
    key = base64.b64decode(master.open_text(sealed)) if sealed else backup_key.new_backup_key()
    wrapped = backup_key.wrap(key, passphrase)  # a quarter second: outside the transaction
    with db_session:
        if _stored(KEY_SETTING) != sealed:
            raise InvalidInput("changed meanwhile: try again", code="changed_meanwhile")
        settings_queries.save(
            {
                KEY_SETTING: sealed or master.seal_text(base64.b64encode(key).decode()),
                KEY_FILE_SETTING: wrapped.to_bytes().decode(),
            }
        )
        audit.record(actor, AuditType.SETTINGS, "backup_passphrase_set")
        events.record(EventKind.BACKUP_SETTINGS_CHANGED, actor, passphrase=True)


@db_session
def passphrase_set() -> bool:
    return bool(_stored(KEY_FILE_SETTING))


@db_session
def current_key(master: MasterKey) -> tuple[bytes, KeyFile] | None:
    sealed, key_file = _stored(KEY_SETTING), _stored(KEY_FILE_SETTING)
    if not sealed or not key_file:
        return None
    return base64.b64decode(master.open_text(sealed)), KeyFile.parse(key_file.encode())


@db_session
def include_config() -> bool:
    return _stored(CONFIG_SETTING) == "1"


@db_session
def set_include_config(actor: Actor, include: bool) -> None:
    actor.require_admin()
    settings_queries.save({CONFIG_SETTING: "1" if include else "0"})
    audit.record(actor, AuditType.SETTINGS, "backup_config_switched", include=str(include).lower())
    events.record(EventKind.BACKUP_SETTINGS_CHANGED, actor, include_config=include)


# --- a target's runs --------------------------------------------------------------------


@db_session
def take_lease(target_id: int, owner: str, seconds: float) -> bool:
    now = utcnow()
    return backup_queries.take_lease(target_id, owner, now, now + timedelta(seconds=seconds))


@db_session
def report_progress(target_id: int, owner: str, seconds: float, progress: dict[str, Any]) -> bool:
    until = utcnow() + timedelta(seconds=seconds)
    return backup_queries.renew_lease(target_id, owner, until, json.dumps(progress))


@db_session
def finish(target_id: int, owner: str, result: dict[str, Any]) -> None:
    backup_queries.finish(target_id, owner, utcnow(), json.dumps(result, ensure_ascii=False))


@db_session
def open_set(target_id: int) -> SetRow | None:
    return backup_queries.open_set(target_id)


@db_session
def open_or_create_set(target_id: int, name: str) -> SetRow:
    return backup_queries.open_set(target_id) or backup_queries.create_set(
        target_id, name, utcnow()
    )


@db_session
def sets_of(actor: Actor, target_id: int) -> list[SetRow]:
    actor.require_admin()
    _target_row(target_id)
    return backup_queries.sets(target_id)


@db_session
def live_sets(target_id: int) -> list[SetRow]:
    return backup_queries.sets(target_id)


@db_session
def key_written(set_id: int, version: str) -> None:
    backup_queries.set_key_version(set_id, version)


@db_session
def pending(target_id: int, after_id: int, limit: int) -> list[PendingRow]:
    return backup_queries.pending(target_id, after_id, limit)


@db_session
def pending_count(target_id: int) -> int:
    return backup_queries.pending_count(target_id)


@db_session
def commit_part(set_row: SetRow, items: list[tuple[int, int]], next_file: int, added: int) -> None:
    backup_queries.commit_part(set_row, items, next_file, added)


@db_session
def close_set(set_id: int) -> None:
    backup_queries.close_set(set_id, utcnow())


@db_session
def expired_sets(target_id: int, before: datetime) -> list[SetRow]:
    """Closed sets older than the target keeps, except those holding a protected recording."""
    return [
        s
        for s in backup_queries.sets(target_id, ("CLOSED",))
        if s.created_at < before and not backup_queries.holds_protected(s.id)
    ]


@db_session
def set_removed(set_id: int) -> None:
    backup_queries.mark_removed(set_id)


# --- what a set holds --------------------------------------------------------------------


@dataclass(frozen=True)
class Backed:
    """One recording to back up: its manifest row (less file and checksum) and its file."""

    id: int
    voicemail: bool
    row: dict[str, Any]
    stored: StoredFile


@db_session
def rows_for(wanted: list[int]) -> list[Backed]:
    """What the manifest says of each recording, read in one pass for the batch."""
    found = recording_queries.by_ids(wanted)
    ids = [r.id for r in found]
    views = {v.id: v for v in views_of(found)}
    devices = backup_queries.device_aliases([r.device_id for r in found if r.device_id])
    tags_of = backup_queries.tags_of(ids)
    out: list[Backed] = []
    for r in found:
        view = views[r.id]
        entity = by_id(Recording, r.id)
        tags = tags_of.get(r.id, [])
        row = {
            "sn": r.sn,
            "call_id": entity.call_id,
            "kind": r.kind,
            "direction": r.direction,
            "caller": r.caller,
            "callee": r.callee,
            "caller_org": view.caller_org,
            "callee_org": view.callee_org,
            "device": devices.get(r.device_id or 0, ""),
            "device_address": view.device,
            "started_at": r.started_at.isoformat(),
            "duration": r.duration,
            "duration_ms": r.duration_ms,
            "score": r.score,
            "tags": [
                {"name": t.name, "offset": t.position, "at": t.created_at.isoformat()} for t in tags
            ],
            "play_count": r.play_count,
            "file_format": r.file_format,
            "source": entity.source,
            "created_at": entity.created_at.isoformat(),
            "protected": r.protected,
        }
        stored = StoredFile(
            entity.relpath, entity.disk_size, entity.plain_size, entity.sha256, entity.encrypted
        )
        out.append(Backed(r.id, r.kind == "voicemail", row, stored))
    return out


def _identity(row: dict[str, Any]) -> list[tuple[int | None, str]]:
    """Where an imported recording would be found: under its device when this appliance
    has it (by alias), else under no device with the alias in its call id."""
    device = Device.get(alias=row["device"]) if row["device"] else None
    keys: list[tuple[int | None, str]] = [(None, f"backup:{row['device']}:{row['call_id']}"[:500])]
    if device is not None:
        keys.insert(0, (device.id, str(row["call_id"])[:500]))
    return keys


def _here(row: dict[str, Any]) -> bool:
    return any(Recording.get(device_id=d, call_id=c) for d, c in _identity(row))


@db_session
def already_here(row: dict[str, Any]) -> bool:
    """The same recording (its device and call) is on this appliance, live or deleted."""
    return _here(row)


def restore_row(actor: Actor, row: dict[str, Any], stored: StoredFile) -> int | None:
    """Insert an imported recording's row as the manifest holds it; None when the same
    recording is here already (a concurrent import took it): the caller removes the file.
    An SN that another recording holds here gets the next free suffix, as at ingest."""
    try:
        with db_session:
            if _here(row):
                return None
            sn, n = row["sn"], 0
            while recording_queries.sn_taken(sn):
                n += 1
                sn = sn_with_suffix(row["sn"], n)
            device = Device.get(alias=row["device"]) if row["device"] else None
            orgs = backup_queries.ids_by_name(
                "organization", [row["caller_org"], row["callee_org"]]
            )
            [(_, call_id)] = [k for k in _identity(row) if k[0] == (device.id if device else None)]
            started = datetime.fromisoformat(row["started_at"])
            r = Recording(
                sn=sn,
                device_id=device.id if device else None,
                call_id=call_id,
                kind=row["kind"],
                direction=row["direction"],
                caller=row["caller"],
                callee=row["callee"],
                started_at=started,
                duration=int(row["duration"]),
                duration_ms=int(row["duration_ms"]),
                score=row["score"],
                play_count=int(row["play_count"]),
                tag_count=len(row["tags"]),
                file_format=row["file_format"],
                relpath=stored.relpath,
                disk_size=stored.disk_size,
                plain_size=stored.plain_size,
                sha256=stored.sha256,
                encrypted=stored.encrypted,
                source="backup",
                created_at=utcnow(),
                caller_org_id=orgs.get(row["caller_org"]),
                callee_org_id=orgs.get(row["callee_org"]),
                protected=bool(row["protected"]),
            )
            r.flush()
            for t in row["tags"]:
                Tag(
                    recording_id=r.id,
                    name=t["name"],
                    position=t["offset"],
                    created_at=datetime.fromisoformat(t["at"]),
                    kind=row["kind"],
                    started_at=started,
                )
            events.record(
                EventKind.RECORDING_IMPORTED, actor, id=r.id, sn=r.sn, started_at=row["started_at"]
            )
            return int(r.id)
    except TransactionIntegrityError:
        return None
