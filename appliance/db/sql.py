"""Running hand-written SQL through Pony's connection, inside the caller's db_session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from appliance.db.database import provider
from appliance.db.entities import db
from appliance.db.utc import from_db, to_db


def to_db_time(value: datetime) -> Any:
    """An aware time as a parameter: naive UTC, as text for SQLite, an object for psycopg2."""
    # SQLite compares Pony's text form, so a parameter must be that exact text.
    naive = to_db(value)
    if provider() == "sqlite":
        text = naive.isoformat(" ")
        return text if len(text) > 19 else text + ".000000"
    return naive


def from_db_time(value: Any) -> datetime:
    """A time column's value, aware UTC."""
    return from_db(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def run(sql: str, params: Sequence[Any] = ()) -> Any:
    """Execute with '?' placeholders (rewritten for psycopg2) and return the cursor."""
    if provider() == "postgres":
        sql = sql.replace("%", "%%").replace("?", "%s")
    cursor = db.get_connection().cursor()
    cursor.execute(sql, tuple(params))
    return cursor


def rows(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return list(run(sql, params).fetchall())


def scalar(sql: str, params: Sequence[Any] = ()) -> Any:
    row = run(sql, params).fetchone()
    return row[0] if row else None
