"""Calls being captured, as the console's live view shows them (activeCalls)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pony.orm import db_session

from appliance.db import active_call_queries, device_queries
from appliance.services.access import access_of
from appliance.services.context import Actor, to_utc_naive, utcnow
from appliance.services.organization import party_orgs


@dataclass(frozen=True)
class ActiveCallView:
    call_key: str
    device: str
    caller: str
    callee: str
    started_at: datetime  # aware, UTC
    seconds: int


@db_session
def started(call_key: str, device_id: int | None, caller: str, callee: str, at: datetime) -> None:
    orgs = party_orgs(device_id, caller, callee)
    active_call_queries.insert(call_key, device_id, caller, callee, orgs, to_utc_naive(at))


@db_session
def parties_changed(call_key: str, device_id: int | None, caller: str, callee: str) -> None:
    active_call_queries.update_parties(
        call_key, caller, callee, party_orgs(device_id, caller, callee)
    )


@db_session
def ended(call_key: str) -> None:
    active_call_queries.delete(call_key)


@db_session
def forget_all() -> None:
    """At capture start no call is in progress: rows left by a crash go."""
    active_call_queries.delete_all()


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
            started_at=r.started_at.replace(tzinfo=UTC),
            seconds=max(0, int((now - r.started_at).total_seconds())),
        )
        for r in found
    ]
