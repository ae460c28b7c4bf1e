"""Schema step 1: recordings, devices, users, tokens, sessions, audit, settings."""

from __future__ import annotations

from appliance.db.migrations.step import LIVE, Step

V1 = [
    """CREATE TABLE app_user (
        id {pk}, login TEXT NOT NULL UNIQUE, name TEXT NOT NULL, password_hash TEXT NOT NULL,
        is_admin {bool} NOT NULL, must_change_password {bool} NOT NULL,
        failed_logins INTEGER NOT NULL, locked_until {ts}, last_login_at {ts},
        enabled {bool} NOT NULL, created_at {ts} NOT NULL)""",
    """CREATE TABLE user_session (
        id {pk}, token_hash TEXT NOT NULL UNIQUE, user_id INTEGER NOT NULL REFERENCES app_user(id),
        created_at {ts} NOT NULL, expires_at {ts} NOT NULL, ip TEXT NOT NULL)""",
    """CREATE TABLE api_token (
        id {pk}, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES app_user(id), created_at {ts} NOT NULL,
        last_used_at {ts}, revoked_at {ts})""",
    """CREATE TABLE device (
        id {pk}, alias TEXT NOT NULL UNIQUE, mode TEXT NOT NULL, address TEXT NOT NULL,
        secret_sealed TEXT NOT NULL, cache_address TEXT NOT NULL, pullback_hours INTEGER NOT NULL,
        pull_protocol TEXT NOT NULL, pull_path TEXT NOT NULL, pull_username TEXT NOT NULL,
        pull_interval INTEGER NOT NULL, pull_interval_unit TEXT NOT NULL,
        last_success_at {ts}, created_at {ts} NOT NULL)""",
    "CREATE INDEX device_address ON device (address)",
    """CREATE TABLE recording (
        id {pk}, sn TEXT NOT NULL UNIQUE, device_id INTEGER REFERENCES device(id),
        call_id TEXT NOT NULL, kind TEXT NOT NULL, direction TEXT, caller TEXT NOT NULL,
        callee TEXT NOT NULL, started_at {ts} NOT NULL, duration INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL, score INTEGER, play_count INTEGER NOT NULL,
        tag_count INTEGER NOT NULL, file_format TEXT NOT NULL, relpath TEXT NOT NULL,
        disk_size INTEGER NOT NULL, plain_size INTEGER NOT NULL, sha256 TEXT NOT NULL,
        encrypted {bool} NOT NULL, source TEXT NOT NULL, created_at {ts} NOT NULL,
        deleted_at {ts})""",
    "CREATE UNIQUE INDEX recording_device_call ON recording (device_id, call_id)",
    f"CREATE INDEX recording_time ON recording (kind, started_at, duration) {LIVE}",
    f"CREATE INDEX recording_caller ON recording (caller, kind, started_at) {LIVE}",
    f"CREATE INDEX recording_callee ON recording (callee, kind, started_at) {LIVE}",
    f"CREATE INDEX recording_device ON recording (device_id, kind, started_at) {LIVE}",
    f"CREATE INDEX recording_score ON recording (score, kind, started_at) {LIVE}",
    """CREATE TABLE tag (
        id {pk}, recording_id INTEGER NOT NULL REFERENCES recording(id), name TEXT NOT NULL,
        position {real}, user_id INTEGER, created_at {ts} NOT NULL)""",
    "CREATE INDEX tag_name ON tag (name, recording_id)",
    "CREATE INDEX tag_recording ON tag (recording_id)",
    """CREATE TABLE score_event (
        id {pk}, recording_id INTEGER NOT NULL REFERENCES recording(id),
        user_id INTEGER, score INTEGER NOT NULL, created_at {ts} NOT NULL)""",
    "CREATE INDEX score_event_recording ON score_event (recording_id)",
    """CREATE TABLE play_event (
        id {pk}, recording_id INTEGER NOT NULL REFERENCES recording(id),
        user_id INTEGER, ip TEXT NOT NULL, created_at {ts} NOT NULL)""",
    "CREATE INDEX play_event_recording ON play_event (recording_id, created_at)",
    """CREATE TABLE audit_entry (
        id {pk}, at {ts} NOT NULL, account TEXT NOT NULL, name TEXT NOT NULL,
        type TEXT NOT NULL, details TEXT NOT NULL, ip TEXT NOT NULL)""",
    "CREATE INDEX audit_at ON audit_entry (at)",
    "CREATE INDEX audit_account ON audit_entry (account, at)",
    "CREATE INDEX audit_type ON audit_entry (type, at)",
    "CREATE INDEX audit_ip ON audit_entry (ip, at)",
    "CREATE TABLE setting (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
]

STEP = Step(1, "recordings, devices, users, tokens, sessions, audit, settings", V1)
