"""Schema step 6: recordings findable by file and by age."""

from __future__ import annotations

from appliance.db.migrations.step import LIVE, Step

# The scheduler's orphan sweep asks which files of one day directory have rows, and
# circular recording deletes the oldest live recordings first.
V6 = [
    "CREATE INDEX recording_relpath ON recording (relpath)",
    f"CREATE INDEX recording_age ON recording (started_at, id) {LIVE}",
]

STEP = Step(6, "recordings findable by file and by age", V6)
