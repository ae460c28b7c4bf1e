"""Schema step 3: tags searchable newest first."""

from __future__ import annotations

from appliance.db.migrations.step import Step

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

STEP = Step(3, "tags searchable newest first", V3)
