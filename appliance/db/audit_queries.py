"""Search SQL for the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.db.sql import delete_older, from_db_time, rows, scalar, to_db_time
from appliance.domain.audit import AuditFilter


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    account: str
    name: str
    type: str
    details: str
    ip: str
    event: str = ""
    params: str = "{}"  # JSON object


def _where(f: AuditFilter) -> tuple[str, list[Any]]:
    where = ["1 = 1"]
    params: list[Any] = []
    for column, value in (("account", f.account), ("type", f.type), ("ip", f.ip)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if f.at_from:
        where.append("at >= ?")
        params.append(to_db_time(f.at_from))
    if f.at_to:
        where.append("at <= ?")
        params.append(to_db_time(f.at_to))
    return " AND ".join(where), params


def search(f: AuditFilter, limit: int, offset: int) -> list[AuditRow]:
    where, params = _where(f)
    found = rows(
        f"SELECT id, at, account, name, type, details, ip, event, params FROM audit_entry WHERE {where} "
        "ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [
        AuditRow(
            r[0],
            from_db_time(r[1]),
            r[2],
            r[3] or "",
            r[4],
            r[5] or "",
            r[6] or "",
            r[7] or "",
            r[8] or "{}",
        )
        for r in found
    ]


def count(f: AuditFilter) -> int:
    where, params = _where(f)
    return int(scalar(f"SELECT COUNT(*) FROM audit_entry WHERE {where}", params))


def delete_before(before: datetime, limit: int) -> int:
    """Remove up to limit entries older than before (aware); how many went."""
    return delete_older("audit_entry", "at", before, limit)
