"""Calls being captured, as the console's live view shows them (activeCalls)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pony.orm import db_session

from appliance.db import active_call_queries, device_queries
from appliance.services.access import access_of
from appliance.services.context import Actor, utcnow


@dataclass(frozen=True)
class ActiveCallView:
    call_key: str
    device: str
    caller: str
    callee: str
    started_at: datetime  # aware, UTC
    seconds: int


@dataclass(frozen=True)
class LiveCall:
    """A call as the capture knows it in memory; the row follows when the database can."""

    device_id: int | None
    caller: str
    callee: str
    started_at: datetime  # aware, UTC
    caller_org_id: int | None = None  # the parties' organisations, from the capture's copy
    callee_org_id: int | None = None  # of the extension-ownership table


@db_session
def sync(changes: dict[str, LiveCall | None], *, exclusive: bool = False) -> None:
    """Bring the rows to what the capture knows, in one transaction: a LiveCall is written,
    None removed. `exclusive`: `changes` names every call in progress, and any other row
    (left by a crash, or by an end that could not be written) goes."""
    if exclusive:
        for key in active_call_queries.keys():
            if changes.get(key) is None:
                active_call_queries.delete(key)
    for key, live in changes.items():
        if live is None:
            active_call_queries.delete(key)
            continue
        orgs = (live.caller_org_id, live.callee_org_id)
        if not active_call_queries.update(key, live.device_id, live.caller, live.callee, orgs):
            active_call_queries.insert(
                key, live.device_id, live.caller, live.callee, orgs, live.started_at
            )


@db_session
def state() -> tuple[tuple[object, ...], ...]:
    """Every row whole: compared by the API's watcher to see that anything changed."""
    return tuple(active_call_queries.every_row())


@db_session
def visible(actor: Actor) -> list[ActiveCallView]:
    found = active_call_queries.visible(access_of(actor).scope)
    devices = device_queries.addresses(sorted({r.device_id for r in found if r.device_id}))
    now = utcnow()
    return [
        ActiveCallView(
            call_key=r.call_key,
            device=devices.get(r.device_id, "") if r.device_id else "",
            caller=r.caller,
            callee=r.callee,
            started_at=r.started_at,
            seconds=max(0, int((now - r.started_at).total_seconds())),
        )
        for r in found
    ]
