"""Schema step 19: backup targets, the sets on them, what each holds, and the backup log;
protected recordings (legal hold)."""

from __future__ import annotations

from appliance.db.migrations.step import Step

V19_BACKUP = [
    # A target is one place backups go (a disk, an FTP or SFTP server, an SMB share). The
    # lease keeps the scheduler and "back up now" from running one target twice; progress
    # is what the console shows while a run goes on.
    """CREATE TABLE backup_target (
        id {pk}, kind TEXT NOT NULL, enabled {bool} NOT NULL, location TEXT NOT NULL,
        username TEXT NOT NULL DEFAULT '', password_sealed TEXT NOT NULL DEFAULT '',
        keep_months INTEGER NOT NULL, disk_limit_percent INTEGER NOT NULL,
        tls_fingerprint TEXT NOT NULL DEFAULT '', host_key TEXT NOT NULL DEFAULT '',
        lease_owner TEXT, lease_until {ts}, progress TEXT NOT NULL DEFAULT '',
        last_run_at {ts}, last_result TEXT NOT NULL DEFAULT '', created_at {ts} NOT NULL)""",
    # A set is one folder on a target, filled by one or more runs: a run that broke off
    # leaves it open and the next run completes it. key_version says which passphrase
    # wrapped the key file written into it (a changed passphrase rewrites the key files).
    """CREATE TABLE backup_set (
        id {pk}, target_id INTEGER NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
        created_at {ts} NOT NULL, closed_at {ts}, next_file INTEGER NOT NULL DEFAULT 1,
        next_part INTEGER NOT NULL DEFAULT 1, recordings INTEGER NOT NULL DEFAULT 0,
        bytes BIGINT NOT NULL DEFAULT 0, key_version TEXT NOT NULL DEFAULT '')""",
    "CREATE UNIQUE INDEX backup_set_name ON backup_set (target_id, name)",
    # A recording goes to a target once: written here only after its manifest part landed.
    """CREATE TABLE backup_item (
        target_id INTEGER NOT NULL, recording_id BIGINT NOT NULL, set_id INTEGER NOT NULL,
        file_no INTEGER NOT NULL, PRIMARY KEY (target_id, recording_id))""",
    # The manual's backup log: runs, imports, and circular recording's deletions.
    """CREATE TABLE backup_log (
        id {pk}, at {ts} NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL DEFAULT '',
        result TEXT NOT NULL, recordings INTEGER NOT NULL DEFAULT 0,
        voicemails INTEGER NOT NULL DEFAULT 0, bytes BIGINT NOT NULL DEFAULT 0,
        event TEXT NOT NULL, params TEXT NOT NULL DEFAULT '{}', search TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX backup_log_at ON backup_log (at)",
    # Legal hold: circular recording and retention pass over a protected recording.
    "ALTER TABLE recording ADD COLUMN protected {bool} NOT NULL DEFAULT FALSE",
]

STEP = Step(19, "backups and protected recordings", V19_BACKUP)
