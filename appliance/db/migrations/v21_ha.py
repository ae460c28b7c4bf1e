"""Schema step 21: primary and standby (R-HA): the pair's settings and state, the peer's
master key, and how far this appliance has applied the peer's event log."""

from __future__ import annotations

from appliance.db.migrations.step import Step

V21_HA = [
    # One row: this appliance's side of the pair. Not in the configuration the primary
    # mirrors to its standby (each side has its own role, peer and certificate). epoch
    # rises at every promotion, so of two primaries the newer one wins.
    """CREATE TABLE ha_state (
        id INTEGER PRIMARY KEY, role TEXT NOT NULL DEFAULT 'STANDALONE',
        peer_address TEXT NOT NULL DEFAULT '', recording_sync {bool} NOT NULL DEFAULT TRUE,
        config_sync {bool} NOT NULL DEFAULT TRUE, period_seconds INTEGER NOT NULL DEFAULT 60,
        takeover_seconds INTEGER NOT NULL DEFAULT 15, witness TEXT NOT NULL DEFAULT '',
        secret_sealed TEXT NOT NULL DEFAULT '', peer_cert TEXT NOT NULL DEFAULT '',
        paired_at {ts}, epoch BIGINT NOT NULL DEFAULT 0, peer_seen_at {ts},
        last_sync_at {ts}, lag_recordings BIGINT NOT NULL DEFAULT 0,
        lag_seconds {real} NOT NULL DEFAULT 0, sync_requested_at {ts},
        last_error TEXT NOT NULL DEFAULT '', promoted_at {ts}, peer_role TEXT NOT NULL DEFAULT '',
        peer_epoch BIGINT NOT NULL DEFAULT 0, vrrp_state TEXT NOT NULL DEFAULT '',
        failback_requested_at {ts})""",
    "INSERT INTO ha_state (id) VALUES (1)",
    # The peer's master key, sealed by ours: its files and secrets open here as they are.
    """CREATE TABLE ha_key (
        fingerprint TEXT PRIMARY KEY, key_sealed TEXT NOT NULL, added_at {ts} NOT NULL)""",
    # The last entry of a peer's event log applied here, per peer (by its certificate's
    # fingerprint): written in the transaction that applies it, so sync resumes exactly.
    "CREATE TABLE ha_cursor (peer TEXT PRIMARY KEY, applied_id BIGINT NOT NULL)",
]

STEP = Step(21, "primary and standby", V21_HA)
