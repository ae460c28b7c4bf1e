"""Pony entities mapped onto the tables that appliance.db.migrations creates."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pony.orm import Database, Json, Optional, PrimaryKey, Required

db = Database()
E = TypeVar("E")


def by_id(entity: type[E], key: Any) -> E:
    """Entity[key] (raises ObjectNotFound), typed: mypy cannot see Pony's metaclass."""
    return entity[key]  # type: ignore[index]


class User(db.Entity):  # type: ignore[name-defined]
    _table_ = "app_user"
    id = PrimaryKey(int, auto=True)
    login = Required(str, unique=True)
    name = Required(str)
    password_hash = Required(str)
    is_admin = Required(bool)
    must_change_password = Required(bool)
    failed_logins = Required(int)
    locked_until = Optional(datetime)
    last_login_at = Optional(datetime)
    enabled = Required(bool)
    created_at = Required(datetime)
    extension = Optional(str, nullable=True)
    phone = Optional(str)
    organization_id = Optional(int)
    last_login_ip = Optional(str, nullable=True)


class Organization(db.Entity):  # type: ignore[name-defined]
    _table_ = "organization"
    id = PrimaryKey(int, auto=True)
    name = Required(str, unique=True)
    prefix = Required(str, unique=True)
    device_id = Optional(int)
    parent_id = Optional(int)
    created_at = Required(datetime)


class Role(db.Entity):  # type: ignore[name-defined]
    _table_ = "role"
    id = PrimaryKey(int, auto=True)
    name = Required(str, unique=True)
    actions = Required(Json)  # a list of Action values
    created_at = Required(datetime)


class UserSession(db.Entity):  # type: ignore[name-defined]
    _table_ = "user_session"
    id = PrimaryKey(int, auto=True)
    token_hash = Required(str, unique=True)
    user_id = Required(int)
    created_at = Required(datetime)
    expires_at = Required(datetime)
    ip = Required(str)


class ApiToken(db.Entity):  # type: ignore[name-defined]
    _table_ = "api_token"
    id = PrimaryKey(int, auto=True)
    name = Required(str)
    token_hash = Required(str, unique=True)
    user_id = Required(int)
    created_at = Required(datetime)
    last_used_at = Optional(datetime)
    revoked_at = Optional(datetime)


class Device(db.Entity):  # type: ignore[name-defined]
    _table_ = "device"
    id = PrimaryKey(int, auto=True)
    alias = Required(str, unique=True)
    mode = Required(str)
    address = Required(str)
    secret_sealed = Required(str)
    cache_address = Optional(str)
    pullback_hours = Required(int)
    pull_protocol = Optional(str)
    pull_path = Optional(str)
    pull_username = Optional(str)
    pull_interval = Required(int)
    pull_interval_unit = Required(str)
    pull_auth = Required(str, default="PASSWORD")
    pull_pattern = Optional(str)
    pull_after = Required(str, default="KEEP")
    pull_move_to = Optional(str)
    pull_tls_fingerprint = Optional(str)
    pull_host_key = Optional(str)
    pull_blocked = Optional(str)
    pull_found_key = Optional(str)
    last_success_at = Optional(datetime)
    created_at = Required(datetime)


class Recording(db.Entity):  # type: ignore[name-defined]
    _table_ = "recording"
    id = PrimaryKey(int, auto=True)
    sn = Required(str, unique=True)
    device_id = Optional(int)
    call_id = Required(str)
    kind = Required(str)
    direction = Optional(str, nullable=True)
    caller = Optional(str)
    callee = Optional(str)
    started_at = Required(datetime)
    duration = Required(int)
    duration_ms = Required(int)
    score = Optional(int)
    play_count = Required(int)
    tag_count = Required(int)
    file_format = Required(str)
    relpath = Required(str)
    disk_size = Required(int)
    plain_size = Required(int)
    sha256 = Required(str)
    encrypted = Required(bool)
    source = Required(str)
    created_at = Required(datetime)
    deleted_at = Optional(datetime)
    caller_org_id = Optional(int)
    callee_org_id = Optional(int)
    protected = Required(bool, default=False)
    deleted_reason = Optional(str, nullable=True)


class Tag(db.Entity):  # type: ignore[name-defined]
    _table_ = "tag"
    id = PrimaryKey(int, auto=True)
    recording_id = Required(int)
    name = Required(str)
    position = Optional(float)
    user_id = Optional(int)
    created_at = Required(datetime)
    kind = Required(str)
    started_at = Required(datetime)


class ScoreEvent(db.Entity):  # type: ignore[name-defined]
    _table_ = "score_event"
    id = PrimaryKey(int, auto=True)
    recording_id = Required(int)
    user_id = Optional(int)
    score = Required(int)
    created_at = Required(datetime)


class PlayEvent(db.Entity):  # type: ignore[name-defined]
    _table_ = "play_event"
    id = PrimaryKey(int, auto=True)
    recording_id = Required(int)
    user_id = Optional(int)
    ip = Required(str)
    created_at = Required(datetime)


class AuditEntry(db.Entity):  # type: ignore[name-defined]
    _table_ = "audit_entry"
    id = PrimaryKey(int, auto=True)
    at = Required(datetime)
    account = Required(str)
    name = Optional(str)
    type = Required(str)
    details = Optional(str)
    ip = Optional(str)
    event = Optional(str)
    params = Optional(str)


class Setting(db.Entity):  # type: ignore[name-defined]
    _table_ = "setting"
    key = PrimaryKey(str)
    value = Required(str)


class EventLogEntry(db.Entity):  # type: ignore[name-defined]
    _table_ = "event_log"
    id = PrimaryKey(int, auto=True, size=64)
    at = Required(datetime)
    kind = Required(str)
    process = Required(str)
    actor = Required(str)
    params = Required(str)


class EventCursor(db.Entity):  # type: ignore[name-defined]
    _table_ = "event_cursor"
    reader = PrimaryKey(str)
    last_id = Required(int, size=64)


class Job(db.Entity):  # type: ignore[name-defined]
    _table_ = "job"
    id = PrimaryKey(int, auto=True)
    name = Required(str, unique=True)
    schedule = Required(str)
    next_run_at = Required(datetime)
    lease_owner = Optional(str, nullable=True)
    lease_until = Optional(datetime)
    last_run_at = Optional(datetime)
    last_result = Optional(str, nullable=True)
    last_duration_ms = Optional(int)
    last_error = Optional(str, nullable=True)
    created_at = Required(datetime)


class JobRun(db.Entity):  # type: ignore[name-defined]
    _table_ = "job_run"
    id = PrimaryKey(int, auto=True)
    job_id = Required(int)
    runner = Required(str)
    started_at = Required(datetime)
    finished_at = Optional(datetime)
    result = Optional(str, nullable=True)
    duration_ms = Optional(int)
    error = Optional(str, nullable=True)
