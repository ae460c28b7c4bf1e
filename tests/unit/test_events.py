"""The event log's service and queries on SQLite: appended with the change or not at all,
read by id, followed with a saved cursor, pruned; and the log level it carries applied."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from pony.orm import db_session, rollback

from appliance.domain.events import Event, EventKind
from appliance.domain.log_level import python_levels
from appliance.event_follower import EventFollower, apply_log_level
from appliance.services import events
from appliance.services.context import SYSTEM, Actor

ADMIN = Actor(1, "admin", "Administrator", True, "127.0.0.1", "session")


@pytest.fixture(autouse=True)
def _database(sqlite_database: object) -> None:
    """Every test here reads and writes the shared unit-test database."""


def _add(kind: EventKind = EventKind.DEVICE_CREATED, **params: object) -> int:
    with db_session:
        events.record(kind, ADMIN, **params)
    return events.latest_id()


def test_an_entry_names_its_kind_time_process_actor_and_params():
    events.set_process("api")
    before = datetime.now(UTC)
    last = _add(EventKind.DEVICE_DELETED, id=7, alias="gw-1", address="192.0.2.1")
    [entry] = events.after(last - 1)
    assert entry.id == last and entry.kind == "device.deleted" and entry.actor == "admin"
    assert entry.params == {"id": 7, "alias": "gw-1", "address": "192.0.2.1"}
    assert entry.process.startswith("api@") and entry.process.endswith(f":{__import__('os').getpid()}")
    assert entry.at.tzinfo is UTC and before - timedelta(seconds=1) <= entry.at <= datetime.now(UTC)


def test_an_entry_of_a_change_rolled_back_is_never_seen():
    last = events.latest_id()
    with db_session:
        events.record(EventKind.DEVICE_CREATED, ADMIN, alias="never")
        rollback()
    assert events.after(last) == []
    kept = _add(alias="kept")
    assert [e.params["alias"] for e in events.after(last)] == ["kept"] and kept > last


def test_entries_come_in_id_order_a_batch_at_a_time():
    first = events.latest_id()
    ids = [_add(n=n) for n in range(5)]
    assert [e.id for e in events.after(first)] == ids
    assert [e.params["n"] for e in events.after(first, limit=2)] == [0, 1]
    assert [e.params["n"] for e in events.after(ids[1], limit=2)] == [2, 3]


def test_a_reader_resumes_after_the_last_batch_it_handled():
    start = _add(n=0)
    name = f"reader-{start}"
    stop = threading.Event()
    seen: list[int] = []
    for e in events.follow(name, after_id=start - 1, stop=stop):
        seen.append(e.id)
        stop.set()  # handled the one entry there is: the batch is done when we come back
    assert seen == [start] and events.cursor_of(name) == start

    more = [_add(n=n) for n in (1, 2)]
    stop.clear()
    again: list[int] = []
    for e in events.follow(name, stop=stop):
        again.append(e.id)
        if e.id == more[-1]:
            stop.set()
    assert again == more and events.cursor_of(name) == more[-1]


def test_a_reader_stopped_inside_a_batch_gets_that_batch_again():
    """At least once: the cursor moves only once the whole batch was handled."""
    first = [_add(n=n) for n in range(3)]
    name = f"crash-{first[0]}"
    events.save_cursor(name, first[0] - 1)
    reading = events.follow(name)
    assert next(reading).id == first[0]
    reading.close()  # dies after handling one of three
    assert events.cursor_of(name) == first[0] - 1
    stop = threading.Event()
    again = []
    for e in events.follow(name, stop=stop):
        again.append(e.id)
        if e.id == first[-1]:
            stop.set()
    assert again == first


def test_a_follower_wakes_for_an_entry_committed_while_it_waits():
    start = events.latest_id()
    stop = threading.Event()
    got: list[Event] = []

    def read() -> None:
        for e in events.follow(after_id=start, stop=stop):
            got.append(e)
            stop.set()

    reader = threading.Thread(target=read)
    reader.start()
    threading.Event().wait(0.3)
    added = _add(alias="late")
    reader.join(timeout=5)
    assert [e.id for e in got] == [added]


def test_pruning_removes_old_entries_and_ids_are_never_reused():
    last = _add(alias="old")
    removed = events.prune(datetime.now(UTC) + timedelta(seconds=1))
    assert removed >= 1 and events.after(0) == []
    assert events.prune(datetime.now(UTC)) == 0
    again = _add(alias="new")
    assert again > last  # a reader's cursor at `last` still means "seen up to here"
    assert events.prune(datetime.now(UTC) - timedelta(days=1)) == 0
    assert [e.id for e in events.after(last)] == [again]


@pytest.mark.parametrize(
    ("setting", "own", "library"),
    [(1, "ERROR", "ERROR"), (2, "WARNING", "WARNING"), (3, "INFO", "INFO"), (4, "DEBUG", "INFO"),
     (5, "DEBUG", "DEBUG"), (0, "ERROR", "ERROR"), (9, "DEBUG", "DEBUG")],
)
def test_log_levels_map_one_to_five_from_errors_to_everything(setting, own, library):
    assert python_levels(setting) == (logging.getLevelName(own), logging.getLevelName(library))


def test_a_settings_change_of_the_log_level_is_applied_to_the_loggers_at_once():
    own, root = logging.getLogger("appliance"), logging.getLogger()
    saved = own.level, root.level
    try:
        apply_log_level(3)
        follower = EventFollower(ctx=None)  # type: ignore[arg-type]
        at = datetime.now(UTC)
        follower.handle(Event(1, at, EventKind.SETTINGS_CHANGED, "api", "admin", {"log_level": 5}))
        assert own.level == logging.DEBUG and root.level == logging.DEBUG
        follower.handle(Event(2, at, EventKind.SETTINGS_CHANGED, "api", "admin", {"log_level": 1}))
        assert own.level == logging.ERROR and logging.getLogger("uvicorn.access").level == logging.ERROR
        follower.handle(Event(3, at, EventKind.SETTINGS_CHANGED, "api", "admin", {"mixing_gain": 2}))
        assert own.level == logging.ERROR  # other settings leave it alone
    finally:
        own.setLevel(saved[0])
        root.setLevel(saved[1])
        logging.getLogger("uvicorn.access").setLevel(logging.NOTSET)
        logging.getLogger("uvicorn").setLevel(logging.NOTSET)
        logging.getLogger("uvicorn.error").setLevel(logging.NOTSET)
        logging.getLogger("recorder").setLevel(logging.NOTSET)


def test_system_changes_are_recorded_as_the_system():
    last = _add()
    with db_session:
        events.record(EventKind.USER_CREATED, SYSTEM, login="admin")
    assert events.after(last)[0].actor == "system"


def test_the_most_verbose_level_never_logs_websocket_frames():
    """At DEBUG websockets logs each frame's ends: a connection_init's end is an API token's."""
    try:
        apply_log_level(5)
        assert logging.getLogger("uvicorn.error").level == logging.DEBUG
        assert logging.getLogger("websockets").level == logging.INFO
        apply_log_level(1)
        assert logging.getLogger("websockets").level == logging.ERROR
    finally:
        apply_log_level(3)


def test_pruning_keeps_what_the_paired_standby_has_not_applied():
    from appliance.db import event_queries

    applied = _add(alias="applied by the standby")
    waiting = _add(alias="not yet")
    with db_session:
        event_queries.save_cursor(event_queries.PEER_READER, applied)
    try:
        events.prune(datetime.now(UTC) + timedelta(seconds=1))
        assert [e.id for e in events.after(0)] == [waiting]
    finally:
        with db_session:
            event_queries.forget_cursor(event_queries.PEER_READER)
    events.prune(datetime.now(UTC) + timedelta(seconds=1))
    assert events.after(0) == []
