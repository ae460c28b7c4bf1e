"""Reading and changing the administrator's settings (kept in the database)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pony.orm import db_session

from appliance.db import settings_queries
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.schedule import time_zone
from appliance.domain.settings import Settings
from appliance.errors import InvalidInput
from appliance.services import audit, context, events
from appliance.services.context import Actor

ETC = Path("/etc")


def system_time_zone(etc: Path = ETC) -> str:
    """The machine's IANA zone, as tzlocal finds it: TZ, /etc/timezone, the /etc/localtime
    link; UTC when none names a zone."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append((etc / "timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    try:
        target = os.readlink(etc / "localtime")
        if "zoneinfo/" in target:
            candidates.append(target.rsplit("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        try:
            time_zone(name)
            return name
        except InvalidInput:
            continue
    return "UTC"


def _load() -> Settings:
    stored = settings_queries.load_all()
    stored.setdefault("time_zone", system_time_zone())
    loaded = Settings.from_store(stored)
    try:
        context.use_time_zone(ZoneInfo(loaded.time_zone))
    except (ValueError, OSError):  # a zone the zone database lost since: keep the last
        pass
    return loaded


@db_session
def current() -> Settings:
    return _load()


@db_session
def update(actor: Actor, **changes: Any) -> Settings:
    actor.require_admin()
    before = _load()
    after = before.changed(**changes)
    settings_queries.save(after.to_store())
    context.use_time_zone(ZoneInfo(after.time_zone))
    diff = before.diff(after)
    if diff:
        summary = "; ".join(f"{k}: {old} -> {new}" for k, (old, new) in sorted(diff.items()))
        audit.record(actor, AuditType.SETTINGS, "settings_changed", changes=summary)
        # The new values, typed: every process applies what concerns it (the log level).
        events.record(EventKind.SETTINGS_CHANGED, actor, **{k: getattr(after, k) for k in diff})
    return after
