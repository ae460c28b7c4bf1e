"""Schema step 7: calls being captured."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# Calls being captured, written by `recorder capture` and read by the API (activeCalls):
# the processes share only the database.
V7 = [
    """CREATE TABLE active_call (
        call_key TEXT PRIMARY KEY, device_id INTEGER REFERENCES device(id),
        caller TEXT NOT NULL, callee TEXT NOT NULL, caller_org_id INTEGER, callee_org_id INTEGER,
        started_at {ts} NOT NULL)""",
]

STEP = Step(7, "calls being captured", V7)
