"""Running hand-written SQL through Pony's connection, inside the caller's db_session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from appliance.db.database import provider
from appliance.db.entities import db


def to_db_time(value: datetime) -> Any:
    """SQLite keeps Pony's text form; psycopg2 takes datetime objects."""
    if provider() == "sqlite":
        text = value.isoformat(" ")
        return text if len(text) > 19 else text + ".000000"
    return value


def from_db_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


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
