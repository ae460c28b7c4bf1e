"""Unit tests that need the database bind Pony once per test process to a fresh SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A migrated SQLite database bound to the entities (Pony allows one bind per process)."""
    from appliance.db import database

    path = tmp_path_factory.mktemp("unit-db") / "recorder.db"
    database.open_database(f"sqlite://{path}")
    yield path
    database.close_database()
