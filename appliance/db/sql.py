"""Running hand-written SQL through Pony's connection, inside the caller's db_session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pony.orm import db_session

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


def delete_older(table: str, column: str, before: datetime, limit: int, condition: str = "") -> int:
    """Remove up to limit rows of table whose column is before then (and that meet the
    condition, SQL); how many went. Tables and conditions are ours, never a caller's text."""
    extra = f" AND {condition}" if condition else ""
    cursor = run(
        f"DELETE FROM {table} WHERE id IN "
        f"(SELECT id FROM {table} WHERE {column} < ?{extra} LIMIT ?)",
        [to_db_time(before), limit],
    )
    return int(cursor.rowcount)


def delete_in_batches(
    delete: Callable[[datetime, int], int], before: datetime, batch: int = 10_000
) -> int:
    """Run a delete_older-style function until it removes less than a batch, one short
    transaction per batch (retention never holds a long lock); how many went in all."""
    removed = 0
    while True:
        with db_session:
            count = delete(before, batch)
        removed += count
        if count < batch:
            return removed
