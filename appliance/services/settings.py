"""Reading and changing the administrator's settings (kept in the database)."""

from __future__ import annotations

from typing import Any

from pony.orm import db_session

from appliance.db import settings_queries
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.settings import Settings
from appliance.services import audit, events
from appliance.services.context import Actor


@db_session
def current() -> Settings:
    return Settings.from_store(settings_queries.load_all())


@db_session
def update(actor: Actor, **changes: Any) -> Settings:
    actor.require_admin()
    before = Settings.from_store(settings_queries.load_all())
    after = before.changed(**changes)
    settings_queries.save(after.to_store())
    diff = before.diff(after)
    if diff:
        summary = "; ".join(f"{k}: {old} -> {new}" for k, (old, new) in sorted(diff.items()))
        audit.record(actor, AuditType.SETTINGS, "settings_changed", changes=summary)
        # The new values, typed: every process applies what concerns it (the log level).
        events.record(EventKind.SETTINGS_CHANGED, actor, **{k: getattr(after, k) for k in diff})
    return after
