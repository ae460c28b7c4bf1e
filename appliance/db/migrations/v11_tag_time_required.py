"""Schema step 11: a tag's recording start is NOT NULL, as the entity declares."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# Step 3 added tag.started_at as a NULL-able column (ADD COLUMN cannot add NOT NULL without
# a default) and filled it; every writer sets it since. SQLite cannot change a column's
# NULL-ability in place, so its table is rebuilt (tags are few beside recordings).
_FILL = (
    "UPDATE tag SET started_at = (SELECT r.started_at FROM recording r WHERE r.id = tag.recording_id) "
    "WHERE started_at IS NULL"
)
V11_SQLITE = [
    _FILL,
    """CREATE TABLE tag_rebuilt (
        id {pk}, recording_id INTEGER NOT NULL REFERENCES recording(id), name TEXT NOT NULL,
        position {real}, user_id INTEGER, created_at {ts} NOT NULL,
        kind TEXT NOT NULL DEFAULT 'call', started_at {ts} NOT NULL)""",
    "INSERT INTO tag_rebuilt (id, recording_id, name, position, user_id, created_at, kind, started_at) "
    "SELECT id, recording_id, name, position, user_id, created_at, kind, started_at FROM tag",
    "DROP TABLE tag",
    "ALTER TABLE tag_rebuilt RENAME TO tag",
    "CREATE UNIQUE INDEX tag_recording_name ON tag (recording_id, name)",
    "CREATE INDEX tag_name_time ON tag (name, kind, started_at, recording_id)",
]
V11_POSTGRES = [_FILL, "ALTER TABLE tag ALTER COLUMN started_at SET NOT NULL"]

STEP = Step(
    11,
    "a tag's recording start is required",
    [],
    {"sqlite": V11_SQLITE, "postgres": V11_POSTGRES},
)
