"""Schema step 18: pulling from devices (their options, runs, and the files fetched)."""

from __future__ import annotations

from appliance.db.migrations.step import Step

V18_PULL = [
    "ALTER TABLE device ADD COLUMN pull_auth TEXT NOT NULL DEFAULT 'PASSWORD'",
    "ALTER TABLE device ADD COLUMN pull_pattern TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE device ADD COLUMN pull_after TEXT NOT NULL DEFAULT 'KEEP'",
    "ALTER TABLE device ADD COLUMN pull_move_to TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE device ADD COLUMN pull_tls_fingerprint TEXT NOT NULL DEFAULT ''",
    # The SFTP host key pinned at the first sign-in; a different one stops the device
    # (pull_blocked) until an administrator accepts the key it found.
    "ALTER TABLE device ADD COLUMN pull_host_key TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE device ADD COLUMN pull_blocked TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE device ADD COLUMN pull_found_key TEXT NOT NULL DEFAULT ''",
    # One row per pull device: who runs it now (a lease, so the scheduler and "fetch
    # now" never run one device twice), and how the last run went (its time is the
    # anchor of the next).
    """CREATE TABLE pull_state (
        device_id INTEGER PRIMARY KEY, lease_owner TEXT, lease_until {ts},
        progress TEXT NOT NULL DEFAULT '', last_run TEXT NOT NULL DEFAULT '',
        last_run_at {ts}, failures INTEGER NOT NULL DEFAULT 0)""",
    # Each file fetched, by what its listing said: a run over 100,000 remote names reads
    # this once per device, never once per name. mtime is whole seconds (-1: not known).
    """CREATE TABLE pulled_file (
        id {pk}, device_id INTEGER NOT NULL, path TEXT NOT NULL, size BIGINT NOT NULL,
        mtime BIGINT NOT NULL, recording_id BIGINT, fetched_at {ts} NOT NULL)""",
    "CREATE UNIQUE INDEX pulled_file_key ON pulled_file (device_id, path, size, mtime)",
]

STEP = Step(18, "pulling from devices", V18_PULL)
