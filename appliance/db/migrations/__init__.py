"""Schema versions and ordered migration steps, per provider (SQLite, PostgreSQL).

Pony has no migrations, so the schema is ours: one module per step, its SQL rendered for
the provider and applied in one transaction with its version row. Start-up and
`recorder admin migrate` call migrate(); concurrent starters serialise on a lock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from appliance.db.connect import DatabaseUrl
from appliance.db.migrations import (
    v01_initial,
    v02_tallies,
    v03_tags_newest_first,
    v04_organisation,
    v05_tallies_per_org,
    v06_file_and_age,
    v07_active_calls,
    v08_audit_events,
    v09_last_login_ip,
    v10_code_point_order,
    v11_tag_time_required,
    v12_role_actions_list,
    v13_event_log,
    v14_jobs,
    v15_extension_owner,
    v16_sn_code_point_order,
    v17_alarms,
    v18_pull,
    v19_backup,
    v20_statistics,
    v21_ha,
)
from appliance.db.migrations.step import TYPES, Step

STEPS: list[Step] = [
    v01_initial.STEP,
    v02_tallies.STEP,
    v03_tags_newest_first.STEP,
    v04_organisation.STEP,
    v05_tallies_per_org.STEP,
    v06_file_and_age.STEP,
    v07_active_calls.STEP,
    v08_audit_events.STEP,
    v09_last_login_ip.STEP,
    v10_code_point_order.STEP,
    v11_tag_time_required.STEP,
    v12_role_actions_list.STEP,
    v13_event_log.STEP,
    v14_jobs.STEP,
    v15_extension_owner.STEP,
    v16_sn_code_point_order.STEP,
    v17_alarms.STEP,
    v18_pull.STEP,
    v19_backup.STEP,
    v20_statistics.STEP,
    v21_ha.STEP,
]
assert [s.version for s in STEPS] == list(range(1, len(STEPS) + 1)), "steps out of order"

LATEST = STEPS[-1].version


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
            for statement in step.rendered(url.provider):
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
