"""The event log and its readers' cursors: appending, reading by id, pruning, waking readers."""

from __future__ import annotations

import json
import select
import time
from datetime import datetime
from typing import Any

from appliance.db.database import bound_url, provider
from appliance.db.sql import delete_older, from_db_time, rows, run, scalar, to_db_time
from appliance.domain.events import Event

CHANNEL = "event_log"
# Any number, as long as nothing else takes this advisory lock (migrations take 727001).
APPEND_LOCK = 727011


def append(at: datetime, kind: str, process: str, actor: str, params: dict[str, Any]) -> None:
    """Add one entry inside the caller's transaction; readers see it once that commits."""
    if provider() == "postgres":
        # Sequence values are handed out in call order but become visible in commit order:
        # a reader that saw id 11 before id 10 committed would skip 10 for ever. Appenders
        # take turns from here to their commit, so ids commit in rising order. (SQLite
        # has one writer at a time anyway.)
        run("SELECT pg_advisory_xact_lock(?)", [APPEND_LOCK])
    run(
        "INSERT INTO event_log (at, kind, process, actor, params) VALUES (?, ?, ?, ?, ?)",
        [
            to_db_time(at),
            kind,
            process,
            actor,
            json.dumps(params, ensure_ascii=False, default=str),
        ],
    )
    if provider() == "postgres":
        run(f"NOTIFY {CHANNEL}")  # delivered at commit, collapsed within one transaction


def after(last_id: int, limit: int) -> list[Event]:
    """The entries after `last_id`, oldest first."""
    found = rows(
        "SELECT id, at, kind, process, actor, params FROM event_log WHERE id > ? "
        "ORDER BY id LIMIT ?",
        [last_id, limit],
    )
    return [Event(int(r[0]), from_db_time(r[1]), r[2], r[3], r[4], _params(r[5])) for r in found]


def _params(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def latest_id() -> int:
    return int(scalar("SELECT MAX(id) FROM event_log") or 0)


def cursor_of(reader: str) -> int | None:
    value = scalar("SELECT last_id FROM event_cursor WHERE reader = ?", [reader])
    return None if value is None else int(value)


def save_cursor(reader: str, last_id: int) -> None:
    run(
        "INSERT INTO event_cursor (reader, last_id) VALUES (?, ?) "
        "ON CONFLICT (reader) DO UPDATE SET last_id = excluded.last_id",
        [reader, last_id],
    )


# The paired standby's cursor, kept by the primary: entries it has not applied stay
# whatever their age (the log is what the standby replays).
PEER_READER = "ha-peer"


def delete_before(before: datetime, limit: int) -> int:
    """Remove up to limit entries older than `before` (and already applied by a paired
    standby); how many went."""
    kept = cursor_of(PEER_READER)
    condition = "" if kept is None else f"id <= {int(kept)}"
    return delete_older("event_log", "at", before, limit, condition)


def forget_cursor(reader: str) -> None:
    run("DELETE FROM event_cursor WHERE reader = ?", [reader])


class Wakeup:
    """Waits until the log may have grown: a NOTIFY on PostgreSQL (on a connection of its
    own, listening before the first read so nothing falls between), a short poll on SQLite.
    Blocking: use it from a thread."""

    def __init__(self, poll_seconds: float = 0.5) -> None:
        self.poll_seconds = poll_seconds
        self._url = bound_url()
        self._conn: Any = None
        if self._url.provider == "postgres":
            self._listen()

    def _listen(self) -> None:
        import psycopg2.extensions

        conn = self._url.connect()
        conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        conn.cursor().execute(f"LISTEN {CHANNEL}")
        self._conn = conn

    def wait(self, timeout: float) -> None:
        """Return on a wake-up or after `timeout` (SQLite: after the poll interval)."""
        if self._url.provider != "postgres":
            time.sleep(min(timeout, self.poll_seconds))
            return
        if self._conn is None:
            self._listen()  # raises while the database is away: the caller backs off
        conn = self._conn
        try:
            if conn.notifies or select.select([conn], [], [], timeout)[0]:
                conn.poll()
                conn.notifies.clear()
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
