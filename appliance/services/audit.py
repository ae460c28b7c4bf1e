"""The audit trail: written by every use case, searched and exported by administrators."""

from __future__ import annotations

import json
from datetime import datetime

from pony.orm import db_session

from appliance.db import audit_queries
from appliance.db.audit_queries import AuditRow
from appliance.db.entities import AuditEntry
from appliance.db.sql import delete_in_batches
from appliance.domain.audit import AuditFilter, AuditType, describe
from appliance.services.context import Actor, utcnow

MAX_DETAILS = 2000


# Each value's share of the stored params: cutting the JSON text itself would leave text
# that no longer parses, and the log and its export would fail on the entry.
_PARAM_VALUE_MAX = 200


def _stored_params(params: dict[str, str | int | float]) -> str:
    text = json.dumps(params, ensure_ascii=False)
    if len(text) <= MAX_DETAILS:
        return text
    shortened = {
        k: (v[:_PARAM_VALUE_MAX] + "…" if isinstance(v, str) and len(v) > _PARAM_VALUE_MAX else v)
        for k, v in params.items()
    }
    text = json.dumps(shortened, ensure_ascii=False)
    return text if len(text) <= MAX_DETAILS else "{}"


def record(actor: Actor, type_: AuditType, event: str, **params: str | int | float) -> None:
    """Add one entry; call inside the use case's own db_session so both commit together.
    The event and its params let the console say it in the reader's language."""
    AuditEntry(
        at=utcnow(),
        account=actor.login,
        name=actor.name,
        type=type_.value,
        details=describe(event, params)[:MAX_DETAILS],
        ip=actor.ip,
        event=event,
        params=_stored_params(params),
    )


@db_session
def search(actor: Actor, f: AuditFilter, page: int, page_size: int) -> tuple[int, list[AuditRow]]:
    actor.require_admin()
    offset = (page - 1) * page_size
    return audit_queries.count(f), audit_queries.search(f, page_size, offset)


def export_rows(actor: Actor, f: AuditFilter, limit: int) -> list[AuditRow]:
    with db_session:
        actor.require_admin()
        found = audit_queries.search(f, limit, 0)
        record(actor, AuditType.EXPORT, "audit_exported", count=len(found))
    return found


def prune(before: datetime) -> int:
    """Remove entries older than before (log retention), one short transaction per batch."""
    return delete_in_batches(audit_queries.delete_before, before)
