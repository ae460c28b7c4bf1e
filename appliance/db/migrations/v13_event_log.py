"""Schema step 13: the event log (an outbox) and its readers' cursors."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# One row per change, written in the change's transaction, read by id. SQLite's
# AUTOINCREMENT never reuses an id, even once pruning emptied the table, so a reader's
# saved cursor stays valid; PostgreSQL's sequence never does either.
V13_COMMON = [
    "CREATE TABLE event_cursor (reader TEXT PRIMARY KEY, last_id BIGINT NOT NULL)",
]
_EVENT_LOG_COLUMNS = (
    "kind TEXT NOT NULL, process TEXT NOT NULL, actor TEXT NOT NULL, params TEXT NOT NULL"
)
V13_SQLITE = [
    "CREATE TABLE event_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at {ts} NOT NULL, "
    f"{_EVENT_LOG_COLUMNS})",
    "CREATE INDEX event_log_at ON event_log (at)",
]
V13_POSTGRES = [
    f"CREATE TABLE event_log (id BIGSERIAL PRIMARY KEY, at {{ts}} NOT NULL, {_EVENT_LOG_COLUMNS})",
    "CREATE INDEX event_log_at ON event_log (at)",
]

STEP = Step(13, "the event log", V13_COMMON, {"sqlite": V13_SQLITE, "postgres": V13_POSTGRES})
