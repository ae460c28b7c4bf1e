"""Binding Pony to the configured database, after migrations have run."""

from __future__ import annotations

from typing import Any

from appliance.db.connect import SQLITE_PRAGMAS, DatabaseUrl
from appliance.db.entities import db
from appliance.db.migrations import migrate
from appliance.db.utc import use_aware_utc

_bound: DatabaseUrl | None = None


@db.on_connect(provider="sqlite")
def _sqlite_pragmas(_db: Any, connection: Any) -> None:
    cursor = connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)


def open_database(url: str) -> DatabaseUrl:
    """Migrate, then bind the entities (once per process)."""
    global _bound
    parsed = DatabaseUrl.parse(url)
    if _bound is not None:
        if _bound != parsed:
            raise RuntimeError("this process is already bound to another database")
        return parsed
    migrate(parsed)
    # A retry after the database went away between the two steps: Pony refuses a second
    # bind, so only what is still missing is done.
    if db.provider is None:
        db.bind(**parsed.pony_bind_args())
    if db.schema is None:
        use_aware_utc(db.provider)
        db.generate_mapping(create_tables=False, check_tables=True)
    else:
        db.check_tables()  # the mapping was made; its check against the tables was not
    _bound = parsed
    return parsed


def provider() -> str:
    assert _bound is not None, "open_database() first"
    return _bound.provider


def bound_url() -> DatabaseUrl:
    """The database this process is bound to (for connections of its own, e.g. LISTEN)."""
    assert _bound is not None, "open_database() first"
    return _bound


def close_database() -> None:
    """Close this thread's connection (SQLite then checkpoints and drops its WAL files)."""
    db.disconnect()
