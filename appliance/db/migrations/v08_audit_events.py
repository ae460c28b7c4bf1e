"""Schema step 8: audit entries as events with params."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# Audit entries keep what happened as an event key and its params (JSON), so the
# console says it in the reader's language; `details` stays the English sentence.
V8 = [
    "ALTER TABLE audit_entry ADD COLUMN event TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE audit_entry ADD COLUMN params TEXT NOT NULL DEFAULT '{}'",
]

STEP = Step(8, "audit entries as events with params", V8)
