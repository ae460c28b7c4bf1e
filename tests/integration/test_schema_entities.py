"""The tables the migrations make are the tables the Pony entities describe, on both providers."""

from __future__ import annotations

from datetime import datetime

import pytest
from pony.orm import Json

from appliance.db.connect import DatabaseUrl
from appliance.db.entities import db
from appliance.db.migrations import migrate

# Column types as each provider reports them, per Python type an entity declares.
FAMILIES: dict[str, dict[type, set[str]]] = {
    "sqlite": {
        int: {"INTEGER", "BIGINT"},
        str: {"TEXT"},
        bool: {"BOOLEAN"},
        float: {"REAL"},
        datetime: {"DATETIME"},
        Json: {"TEXT"},
    },
    "postgres": {
        int: {"integer", "bigint"},
        str: {"text"},
        bool: {"boolean"},
        float: {"double precision"},
        datetime: {"timestamp without time zone"},
        Json: {"jsonb"},
    },
}


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> DatabaseUrl:
    if request.param == "sqlite":
        return DatabaseUrl.parse(f"sqlite://{tmp_path / 'fresh.db'}")
    return DatabaseUrl.parse(request.getfixturevalue("postgres").create_database("schema"))


def _columns(url: DatabaseUrl, table: str) -> dict[str, tuple[str, bool, bool]]:
    """name -> (type, nullable, has a default) as the database has it."""
    conn = url.connect()
    try:
        cur = conn.cursor()
        if url.provider == "sqlite":
            cur.execute(f"PRAGMA table_info({table})")
            return {
                name: (kind.upper(), not notnull and not pk, default is not None)
                for _cid, name, kind, notnull, default, pk in cur.fetchall()
            }
        cur.execute(
            "SELECT column_name, data_type, is_nullable, column_default FROM "
            "information_schema.columns WHERE table_name = %s",
            (table,),
        )
        return {n: (t, nullable == "YES", d is not None) for n, t, nullable, d in cur.fetchall()}
    finally:
        conn.close()


def _entity_nullable(attr) -> bool:
    # Pony's own rule: an optional attribute is NULL-able unless it is a string, which
    # stores '' for "absent" instead.
    if attr.nullable is not None:
        return bool(attr.nullable)
    return not attr.is_required and attr.py_type is not str


def test_every_entity_column_matches_the_migrated_table(url):
    migrate(url)
    mismatches = []
    for entity in db.entities.values():
        table = entity._table_
        columns = _columns(url, table)
        assert columns, f"no table {table}"
        declared = set()
        for attr in entity._attrs_:
            declared.add(attr.name)
            if attr.name not in columns:
                mismatches.append(f"{table}.{attr.name}: no such column")
                continue
            kind, nullable, _default = columns[attr.name]
            if kind not in FAMILIES[url.provider][attr.py_type]:
                mismatches.append(f"{table}.{attr.name}: {attr.py_type.__name__} but {kind}")
            if nullable != _entity_nullable(attr):
                mismatches.append(
                    f"{table}.{attr.name}: entity {'NULL' if _entity_nullable(attr) else 'NOT NULL'}, "
                    f"table {'NULL' if nullable else 'NOT NULL'}"
                )
        # A NOT NULL column without a default that no entity fills would refuse every insert.
        for name, (_kind, nullable, default) in columns.items():
            if name not in declared and not nullable and not default:
                mismatches.append(
                    f"{table}.{name}: NOT NULL without default, unknown to the entity"
                )
    assert mismatches == []
