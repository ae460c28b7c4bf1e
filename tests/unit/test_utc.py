"""Aware UTC above db/, naive UTC in the tables: db/utc.py converts, and nothing else does."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pony.orm import db_session, select

from appliance.db import sql
from appliance.db.entities import AuditEntry
from appliance.db.utc import from_db, to_db

PACKAGE = Path(__file__).resolve().parents[2] / "appliance"
# The two ways code above db/ used to make or take naive UTC by hand.
FORBIDDEN = re.compile(r"\.replace\(\s*tzinfo\s*=|to_utc_naive")
BEIJING = timezone(timedelta(hours=8))


def test_no_hand_made_utc_above_db():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if PACKAGE / "db" not in path.parents
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert found == [], "datetimes above db/ are aware UTC; db/utc.py converts:\n" + "\n".join(
        found
    )


def test_to_db_makes_naive_utc_from_any_offset():
    assert to_db(datetime(2024, 5, 1, 9, 30, 15, 250, tzinfo=BEIJING)) == datetime(
        2024, 5, 1, 1, 30, 15, 250
    )
    assert to_db(datetime(2024, 5, 1, 1, 30, tzinfo=UTC)) == datetime(2024, 5, 1, 1, 30)
    assert to_db(datetime(2024, 5, 1, 1, 30, tzinfo=UTC)).tzinfo is None


def test_to_db_refuses_a_naive_time():
    with pytest.raises(TypeError, match="naive"):
        to_db(datetime(2024, 5, 1, 1, 30))


def test_from_db_gives_aware_utc():
    read = from_db(datetime(2024, 5, 1, 1, 30, 15))
    assert read == datetime(2024, 5, 1, 1, 30, 15, tzinfo=UTC) and read.tzinfo is UTC
    shifted = from_db(datetime(2024, 5, 1, 9, 30, tzinfo=BEIJING))
    assert shifted.tzinfo is UTC and shifted.hour == 1


def test_round_trip_keeps_the_instant_and_microseconds():
    for value in (
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2024, 3, 31, 2, 30, tzinfo=BEIJING),
    ):
        assert from_db(to_db(value)) == value


def test_hand_written_sql_parameters_and_values(sqlite_database):
    value = datetime(2024, 5, 1, 9, 30, tzinfo=BEIJING)
    with db_session:
        # SQLite keeps Pony's text form; a parameter must compare as that text does.
        assert sql.to_db_time(value) == "2024-05-01 01:30:00.000000"
        read = sql.from_db_time("2024-05-01 01:30:00.000000")
    assert read == value and read.tzinfo is UTC
    with pytest.raises(TypeError):
        sql.to_db_time(datetime(2024, 5, 1, 1, 30))


def test_entities_store_naive_utc_and_read_aware_utc(sqlite_database):
    at = datetime(2024, 5, 1, 9, 30, 1, 500, tzinfo=BEIJING)
    with db_session:
        entry = AuditEntry(at=at, account="utc-test", type="SYSTEM")
        entry.flush()
        entry_id = entry.id
        assert entry.at.tzinfo is UTC and entry.at == at
        stored = sql.scalar("SELECT at FROM audit_entry WHERE id = ?", [entry_id])
    assert stored == "2024-05-01 01:30:01.000500"  # naive UTC in the table
    with db_session:
        read = AuditEntry[entry_id].at
        # A query parameter is converted too: an aware bound finds the row.
        found = select(
            e.id for e in AuditEntry if e.account == "utc-test" and e.at >= at - timedelta(seconds=1)
        )[:]
    assert read == at and read.tzinfo is UTC
    assert entry_id in found


def test_entities_refuse_a_naive_time(sqlite_database):
    with db_session, pytest.raises(TypeError, match="naive"):
        AuditEntry(at=datetime(2024, 5, 1, 1, 30), account="utc-test", type="SYSTEM")
