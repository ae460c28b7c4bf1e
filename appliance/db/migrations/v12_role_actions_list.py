"""Schema step 12: a role's actions are a JSON list, not a comma-separated string."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# Stored as a list the entity reads as one (Pony's Json), so no reader splits a string.
V12_SQLITE = [
    "UPDATE role SET actions = CASE WHEN actions = '' THEN '[]' "
    "ELSE '[\"' || REPLACE(actions, ',', '\",\"') || '\"]' END",
]
V12_POSTGRES = [
    "ALTER TABLE role ALTER COLUMN actions TYPE JSONB USING (CASE WHEN actions = '' "
    "THEN '[]'::jsonb ELSE to_jsonb(string_to_array(actions, ',')) END)",
]

STEP = Step(
    12,
    "a role's actions are a list",
    [],
    {"sqlite": V12_SQLITE, "postgres": V12_POSTGRES},
)
