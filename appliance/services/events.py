"""The event log: every change appended in its own transaction, followed by id by readers
in every process (and by the API's `events` subscription)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pony.orm import db_session

from appliance.db import event_queries
from appliance.db.sql import delete_in_batches
from appliance.domain.events import Event, EventKind
from appliance.services.context import Actor

BATCH = 500
# How long a reader blocks between looks when nothing wakes it: the SQLite poll interval,
# and on PostgreSQL a safety net for a NOTIFY lost to a reconnect (and the stop check).
POLL_SECONDS = 0.5
LISTEN_SECONDS = 1.0

_process = f"cli@{socket.gethostname()}:{os.getpid()}"


def set_process(role: str) -> None:
    """Name this process in the entries it writes (api, capture, scheduler, cli…)."""
    global _process
    _process = f"{role}@{socket.gethostname()}:{os.getpid()}"


def record(kind: EventKind, actor: Actor, **params: Any) -> None:
    """Append one entry; call inside the change's own db_session so both commit together."""
    event_queries.append(datetime.now(UTC), kind.value, _process, actor.login, params)


@db_session
def after(last_id: int, limit: int = BATCH) -> list[Event]:
    """The entries after `last_id`, oldest first, at most `limit`."""
    return event_queries.after(last_id, limit)


@db_session
def latest_id() -> int:
    return event_queries.latest_id()


@db_session
def cursor_of(reader: str) -> int | None:
    """Where the named reader stopped (None: it never handled anything)."""
    return event_queries.cursor_of(reader)


@db_session
def save_cursor(reader: str, last_id: int) -> None:
    event_queries.save_cursor(reader, last_id)


@db_session
def seen_by(actor: Actor, last_id: int, limit: int = BATCH) -> list[Event]:
    """The entries after `last_id` for an administrator's live view (they name every change
    in the appliance, so no one else reads them)."""
    actor.require_admin()
    return event_queries.after(last_id, limit)


def prune(before: datetime) -> int:
    """Remove the entries older than `before` (the log retention job); how many went."""
    return delete_in_batches(event_queries.delete_before, before)


def follow(
    reader: str | None = None,
    after_id: int = 0,
    stop: threading.Event | None = None,
) -> Iterator[Event]:
    """Every entry after the reader's saved cursor (or after `after_id` when it has none),
    then each new one as it commits, until `stop` is set. A named reader's cursor is saved
    once the caller has handled a whole batch: after a crash the batch comes again (at least
    once), nothing is skipped. Blocking: run it in a thread."""
    wakeup = event_queries.Wakeup(POLL_SECONDS)  # listening before the first read
    try:
        last = after_id
        if reader is not None:
            saved = cursor_of(reader)
            last = saved if saved is not None else after_id
        while stop is None or not stop.is_set():
            batch = after(last)
            yield from batch
            if batch:
                last = batch[-1].id
                if reader is not None:
                    save_cursor(reader, last)
                if len(batch) == BATCH:
                    continue
            wakeup.wait(LISTEN_SECONDS)
    finally:
        wakeup.close()
