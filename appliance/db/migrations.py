"""Schema versions and ordered migration steps, per provider (SQLite, PostgreSQL).

Pony has no migrations, so the schema is ours: each step is SQL rendered for the
provider, applied in one transaction with its version row. Start-up and
`recorder admin migrate` call migrate(); concurrent starters serialise on a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from appliance.db.connect import DatabaseUrl

TYPES = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY", "ts": "DATETIME", "real": "REAL", "bool": "BOOLEAN"},
    "postgres": {
        "pk": "BIGSERIAL PRIMARY KEY",
        "ts": "TIMESTAMP",
        "real": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
    },
}

# Partial indexes keep deleted recordings out of every search path.
LIVE = "WHERE deleted_at IS NULL"

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


# Live recordings per (kind, zero duration), kept by triggers so the unfiltered total
# of the list is one row read instead of a scan of tens of millions of index entries.
V2_COMMON = [
    "CREATE TABLE recording_tally (kind TEXT NOT NULL, zero INTEGER NOT NULL, n BIGINT NOT NULL, "
    "PRIMARY KEY (kind, zero))",
    "INSERT INTO recording_tally (kind, zero, n) SELECT kind, CASE WHEN duration = 0 THEN 1 ELSE 0 END, "
    "COUNT(*) FROM recording WHERE deleted_at IS NULL GROUP BY 1, 2",
]
_ZERO_NEW = "CASE WHEN NEW.duration = 0 THEN 1 ELSE 0 END"
_ZERO_OLD = "CASE WHEN OLD.duration = 0 THEN 1 ELSE 0 END"
_DEC_OLD = f"UPDATE recording_tally SET n = n - 1 WHERE kind = OLD.kind AND zero = {_ZERO_OLD}"
V2_SQLITE = [
    f"""CREATE TRIGGER recording_tally_insert AFTER INSERT ON recording WHEN NEW.deleted_at IS NULL
    BEGIN
      INSERT INTO recording_tally (kind, zero, n) VALUES (NEW.kind, {_ZERO_NEW}, 1)
        ON CONFLICT (kind, zero) DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER recording_tally_update AFTER UPDATE OF deleted_at, duration, kind ON recording
    BEGIN
      {_DEC_OLD} AND OLD.deleted_at IS NULL;
      INSERT INTO recording_tally (kind, zero, n) SELECT NEW.kind, {_ZERO_NEW}, 1
        WHERE NEW.deleted_at IS NULL ON CONFLICT (kind, zero) DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER recording_tally_delete AFTER DELETE ON recording WHEN OLD.deleted_at IS NULL
    BEGIN
      {_DEC_OLD};
    END""",
]
V2_POSTGRES = [
    f"""CREATE FUNCTION recording_tally_fn() RETURNS trigger AS $$
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        {_DEC_OLD};
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
        INSERT INTO recording_tally (kind, zero, n) VALUES (NEW.kind, {_ZERO_NEW}, 1)
          ON CONFLICT (kind, zero) DO UPDATE SET n = recording_tally.n + 1;
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER recording_tally AFTER INSERT OR DELETE OR UPDATE OF deleted_at, duration, kind "
    "ON recording FOR EACH ROW EXECUTE FUNCTION recording_tally_fn()",
]


# A tag row carries its recording's kind and start so tag searches run newest first
# off one index; a name is set once per recording (setting it again moves its offset).
V3 = [
    "ALTER TABLE tag ADD COLUMN kind TEXT NOT NULL DEFAULT 'call'",
    "ALTER TABLE tag ADD COLUMN started_at {ts}",
    "UPDATE tag SET kind = (SELECT r.kind FROM recording r WHERE r.id = tag.recording_id), "
    "started_at = (SELECT r.started_at FROM recording r WHERE r.id = tag.recording_id)",
    "DELETE FROM tag WHERE id NOT IN (SELECT MAX(id) FROM tag GROUP BY recording_id, name)",
    "UPDATE recording SET tag_count = (SELECT COUNT(*) FROM tag t WHERE t.recording_id = recording.id) "
    "WHERE tag_count > 0",
    "DROP INDEX tag_name",
    "DROP INDEX tag_recording",
    "CREATE UNIQUE INDEX tag_recording_name ON tag (recording_id, name)",
    "CREATE INDEX tag_name_time ON tag (name, kind, started_at, recording_id)",
]


# Organisation tree, employees (users with an extension), roles and the departments
# they manage; recordings remember the organisations of both parties for filters and scope.
V4 = [
    """CREATE TABLE organization (
        id {pk}, name TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL UNIQUE,
        device_id INTEGER REFERENCES device(id), parent_id INTEGER REFERENCES organization(id),
        created_at {ts} NOT NULL)""",
    "CREATE INDEX organization_parent ON organization (parent_id)",
    """CREATE TABLE role (
        id {pk}, name TEXT NOT NULL UNIQUE, actions TEXT NOT NULL, created_at {ts} NOT NULL)""",
    """CREATE TABLE role_department (
        role_id INTEGER NOT NULL REFERENCES role(id), organization_id INTEGER NOT NULL
        REFERENCES organization(id), PRIMARY KEY (role_id, organization_id))""",
    """CREATE TABLE user_role (
        user_id INTEGER NOT NULL REFERENCES app_user(id), role_id INTEGER NOT NULL
        REFERENCES role(id), PRIMARY KEY (user_id, role_id))""",
    "CREATE INDEX user_role_role ON user_role (role_id)",
    "CREATE INDEX role_department_org ON role_department (organization_id)",
    "ALTER TABLE app_user ADD COLUMN extension TEXT",
    "ALTER TABLE app_user ADD COLUMN phone TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE app_user ADD COLUMN organization_id INTEGER REFERENCES organization(id)",
    "CREATE INDEX app_user_organization ON app_user (organization_id)",
    "CREATE INDEX app_user_extension ON app_user (extension)",
    "ALTER TABLE recording ADD COLUMN caller_org_id INTEGER",
    "ALTER TABLE recording ADD COLUMN callee_org_id INTEGER",
    f"CREATE INDEX recording_caller_org ON recording (caller_org_id, kind, started_at) {LIVE}",
    f"CREATE INDEX recording_callee_org ON recording (callee_org_id, kind, started_at) {LIVE}",
]


# The tally gains the parties' organisations (0 for none), so a manager's unfiltered total
# is a sum over the few (caller org, callee org) pairs instead of a scan.
_KEY_NEW = f"NEW.kind, {_ZERO_NEW}, COALESCE(NEW.caller_org_id, 0), COALESCE(NEW.callee_org_id, 0)"
_DEC_OLD_V5 = (
    f"UPDATE recording_tally SET n = n - 1 WHERE kind = OLD.kind AND zero = {_ZERO_OLD} "
    "AND caller_org = COALESCE(OLD.caller_org_id, 0) AND callee_org = COALESCE(OLD.callee_org_id, 0)"
)
_TALLY_COLUMNS = "kind, zero, caller_org, callee_org, n"
_TALLY_CONFLICT = "ON CONFLICT (kind, zero, caller_org, callee_org)"
V5_COMMON = [
    "DROP TABLE recording_tally",
    "CREATE TABLE recording_tally (kind TEXT NOT NULL, zero INTEGER NOT NULL, caller_org BIGINT NOT NULL, "
    "callee_org BIGINT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (kind, zero, caller_org, callee_org))",
    f"INSERT INTO recording_tally ({_TALLY_COLUMNS}) SELECT kind, CASE WHEN duration = 0 THEN 1 ELSE 0 END, "
    "COALESCE(caller_org_id, 0), COALESCE(callee_org_id, 0), COUNT(*) FROM recording "
    "WHERE deleted_at IS NULL GROUP BY 1, 2, 3, 4",
]
V5_SQLITE = [
    "DROP TRIGGER recording_tally_insert",
    "DROP TRIGGER recording_tally_update",
    "DROP TRIGGER recording_tally_delete",
    f"""CREATE TRIGGER recording_tally_insert AFTER INSERT ON recording WHEN NEW.deleted_at IS NULL
    BEGIN
      INSERT INTO recording_tally ({_TALLY_COLUMNS}) VALUES ({_KEY_NEW}, 1)
        {_TALLY_CONFLICT} DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER recording_tally_update
    AFTER UPDATE OF deleted_at, duration, kind, caller_org_id, callee_org_id ON recording
    BEGIN
      {_DEC_OLD_V5} AND OLD.deleted_at IS NULL;
      INSERT INTO recording_tally ({_TALLY_COLUMNS}) SELECT {_KEY_NEW}, 1
        WHERE NEW.deleted_at IS NULL {_TALLY_CONFLICT} DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER recording_tally_delete AFTER DELETE ON recording WHEN OLD.deleted_at IS NULL
    BEGIN
      {_DEC_OLD_V5};
    END""",
]
V5_POSTGRES = [
    "DROP TRIGGER recording_tally ON recording",
    f"""CREATE OR REPLACE FUNCTION recording_tally_fn() RETURNS trigger AS $$
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        {_DEC_OLD_V5};
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
        INSERT INTO recording_tally ({_TALLY_COLUMNS}) VALUES ({_KEY_NEW}, 1)
          {_TALLY_CONFLICT} DO UPDATE SET n = recording_tally.n + 1;
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER recording_tally AFTER INSERT OR DELETE OR UPDATE OF deleted_at, duration, kind, "
    "caller_org_id, callee_org_id ON recording FOR EACH ROW EXECUTE FUNCTION recording_tally_fn()",
]

# The scheduler's orphan sweep asks which files of one day directory have rows, and
# circular recording deletes the oldest live recordings first.
V6 = [
    "CREATE INDEX recording_relpath ON recording (relpath)",
    f"CREATE INDEX recording_age ON recording (started_at, id) {LIVE}",
]

# Calls being captured, written by `recorder capture` and read by the API (activeCalls):
# the processes share only the database.
V7 = [
    """CREATE TABLE active_call (
        call_key TEXT PRIMARY KEY, device_id INTEGER REFERENCES device(id),
        caller TEXT NOT NULL, callee TEXT NOT NULL, caller_org_id INTEGER, callee_org_id INTEGER,
        started_at {ts} NOT NULL)""",
]

# Audit entries keep what happened as an event key and its params (JSON), so the
# console says it in the reader's language; `details` stays the English sentence.
V8 = [
    "ALTER TABLE audit_entry ADD COLUMN event TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE audit_entry ADD COLUMN params TEXT NOT NULL DEFAULT '{{}}'",
]

# Where each account last signed in successfully: failures from other addresses do not
# slow its owner down there (an outsider cannot lock the owner out).
V9 = [
    "ALTER TABLE app_user ADD COLUMN last_login_ip TEXT",
]

# Numbers, file paths and tag names are found by prefix with a range (>= p AND < p+U+10FFFF),
# which holds only in code-point order. A PostgreSQL database created under a glibc locale
# (zh_CN.UTF-8, en_US.UTF-8) collates ignoring punctuation: the range then matched no
# file of a day folder, and the orphan sweep deleted every recording older than an hour.
# SQLite compares bytes already.
V10_POSTGRES = [
    'ALTER TABLE recording ALTER COLUMN caller TYPE TEXT COLLATE "C", '
    'ALTER COLUMN callee TYPE TEXT COLLATE "C", ALTER COLUMN relpath TYPE TEXT COLLATE "C"',
    'ALTER TABLE tag ALTER COLUMN name TYPE TEXT COLLATE "C"',
]


@dataclass(frozen=True)
class Step:
    version: int
    description: str
    statements: list[str]
    by_provider: dict[str, list[str]] | None = None


STEPS: list[Step] = [
    Step(1, "recordings, devices, users, tokens, sessions, audit, settings", V1),
    Step(2, "live recording tallies", V2_COMMON, {"sqlite": V2_SQLITE, "postgres": V2_POSTGRES}),
    Step(3, "tags searchable newest first", V3),
    Step(4, "organisations, employees, roles; parties' organisations on recordings", V4),
    Step(
        5,
        "tallies per parties' organisations",
        V5_COMMON,
        {"sqlite": V5_SQLITE, "postgres": V5_POSTGRES},
    ),
    Step(6, "recordings findable by file and by age", V6),
    Step(7, "calls being captured", V7),
    Step(8, "audit entries as events with params", V8),
    Step(9, "accounts remember where they last signed in", V9),
    Step(10, "numbers, paths and tags compared by code point", [], {"postgres": V10_POSTGRES}),
]

LATEST = STEPS[-1].version


def render(statement: str, provider: str) -> str:
    return statement.format(**TYPES[provider])


def current_version(conn: Any, provider: str) -> int:
    cur = conn.cursor()
    cur.execute(
        "CREATE TABLE IF NOT EXISTS schema_version "
        f"(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at {TYPES[provider]['ts']})"
    )
    cur.execute("SELECT MAX(version) FROM schema_version")
    row = cur.fetchone()
    return int(row[0] or 0)


def migrate(url: DatabaseUrl, target: int | None = None) -> list[int]:
    """Apply every pending step up to target (default: the latest); return the versions applied."""
    conn = url.connect()
    applied: list[int] = []
    try:
        cur = conn.cursor()
        if url.provider == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        else:
            cur.execute("SELECT pg_advisory_xact_lock(727001)")
        version = current_version(conn, url.provider)
        for step in STEPS:
            if step.version <= version or (target is not None and step.version > target):
                continue
            for statement in step.statements:
                cur.execute(render(statement, url.provider))
            for statement in (step.by_provider or {}).get(url.provider, []):
                cur.execute(statement)
            mark = "?" if url.provider == "sqlite" else "%s"
            now = datetime.now(UTC).replace(tzinfo=None)
            cur.execute(
                f"INSERT INTO schema_version (version, description, applied_at) "
                f"VALUES ({mark}, {mark}, {mark})",
                (step.version, step.description, now.isoformat(" ")),
            )
            applied.append(step.version)
        conn.commit() if url.provider == "postgres" else cur.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    return applied
