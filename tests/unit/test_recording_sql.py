"""The search's SQL builder, run on SQLite: what each condition and scope lets through."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from pony.orm import db_session

from appliance.db import recording_queries as q
from appliance.db.entities import Device, Recording, Tag
from appliance.domain.organization import Scope
from appliance.domain.recordings import RecordingFilter, RecordingKind

_serial = itertools.count(1)
BASE = datetime(2024, 5, 1, 1, 30, tzinfo=UTC)  # aware UTC, as everything above db/ is


@pytest.fixture()
def recordings(sqlite_database):
    """A small catalogue; each test gets its own devices so tests do not see each other."""
    with db_session:
        device, other = (
            Device(alias=f"d{next(_serial)}", mode="PUSH", address="127.0.0.1", secret_sealed="x",
                   pullback_hours=0, pull_interval=1, pull_interval_unit="HOURS", created_at=BASE)
            for _ in range(2)
        )
        device.flush()
        other.flush()
        device, other = int(device.id), int(other.id)

    def add(caller: str, callee: str, minutes: int = 0, duration: int = 10, **kw) -> int:
        with db_session:
            n = next(_serial)
            r = Recording(
                sn=f"sn-{device}-{n}", device_id=kw.pop("device_id", device), call_id=f"c{n}",
                kind=kw.pop("kind", "call"), caller=caller, callee=callee,
                started_at=BASE + timedelta(minutes=minutes), duration=duration,
                duration_ms=duration * 1000, play_count=0, tag_count=0, file_format="MP3",
                relpath=f"2024/05/01/{device}-{n}.mp3", disk_size=1, plain_size=1, sha256="x",
                encrypted=True, source="upload", created_at=BASE, **kw,
            )
            r.flush()
            return int(r.id)

    add.device = device  # type: ignore[attr-defined]
    add.other = other  # type: ignore[attr-defined]
    return add


def _ids(recordings, scope: Scope = Scope(everything=True), **conditions) -> set[int]:
    criteria = q.Criteria(
        RecordingFilter(**conditions), scope=scope, device_ids=[recordings.device]
    )
    with db_session:
        return {r.id for r in q.search(criteria, limit=100, offset=0)}


def test_exact_number_matches_only_itself(recordings):
    a = recordings("201", "300")
    recordings("2010", "300")
    assert _ids(recordings, caller="201") == {a}


def test_prefix_matches_every_number_that_starts_with_it_and_no_other(recordings):
    a, b = recordings("0301", "1"), recordings("03019", "1")
    recordings("0302", "1")
    recordings("030", "1")
    assert _ids(recordings, caller="0301*") == {a, b}


def test_prefix_range_holds_for_non_digits(recordings):
    a = recordings("*99", "1")
    b = recordings("*9\U0001f600", "1")
    recordings("+99", "1")
    assert _ids(recordings, caller="*9*") == {a, b}


def test_time_bounds_are_inclusive(recordings):
    first, middle, last = (recordings("1", "2", minutes=m) for m in (0, 5, 10))
    got = _ids(
        recordings,
        started_from=BASE + timedelta(minutes=5),
        started_to=BASE + timedelta(minutes=10),
    )
    assert got == {middle, last} and first not in got


def test_durations_kind_and_zero_length(recordings):
    zero = recordings("1", "2", duration=0)
    short = recordings("1", "2", duration=5)
    long = recordings("1", "2", duration=60)
    voicemail = recordings("1", "2", duration=60, kind="voicemail")
    assert _ids(recordings, min_duration=5, max_duration=59) == {short}
    assert _ids(recordings) == {zero, short, long}
    assert _ids(recordings, kind=RecordingKind.VOICEMAIL) == {voicemail}
    criteria = q.Criteria(
        RecordingFilter(), device_ids=[recordings.device], show_zero_duration=False
    )
    with db_session:
        assert {r.id for r in q.search(criteria, 100, 0)} == {short, long}
        assert q.count(criteria) == 2


def test_deleted_recordings_are_never_found(recordings):
    kept, gone = recordings("1", "2"), recordings("1", "2")
    with db_session:
        Recording[gone].deleted_at = BASE
    assert _ids(recordings) == {kept}


def test_own_scope_sees_own_extension_on_own_device_only(recordings):
    mine_out, mine_in = recordings("201", "999"), recordings("999", "201")
    recordings("202", "999")
    other_device = recordings("201", "999", device_id=recordings.other)
    own = Scope(own_device=recordings.device, own_extension="201")
    assert _ids(recordings, scope=own) == {mine_out, mine_in}
    criteria = q.Criteria(RecordingFilter(), scope=own)
    with db_session:
        assert other_device not in {r.id for r in q.search(criteria, 100, 0)}


def test_department_scope_sees_either_party_in_its_departments(recordings):
    base = recordings.device * 1000
    a = recordings("1", "2", caller_org_id=base + 1)
    b = recordings("1", "2", callee_org_id=base + 2)
    recordings("1", "2", caller_org_id=base + 3, callee_org_id=base + 3)
    recordings("1", "2")
    scope = Scope(org_ids=frozenset({base + 1, base + 2}))
    assert _ids(recordings, scope=scope) == {a, b}


def test_a_scope_that_sees_nothing_or_an_empty_list_matches_nothing(recordings):
    recordings("1", "2")
    assert _ids(recordings, scope=Scope()) == set()
    with db_session:
        assert q.search(q.Criteria(RecordingFilter(), device_ids=[]), 100, 0) == []
        assert q.count(q.Criteria(RecordingFilter(), caller_org_ids=frozenset())) == 0


def test_tag_search_runs_newest_first(recordings):
    old, new = recordings("1", "2", minutes=1), recordings("1", "2", minutes=2)
    recordings("1", "2", minutes=3)
    with db_session:
        for rid in (old, new):
            r = Recording[rid]
            Tag(recording_id=rid, name=f"vip{recordings.device}", created_at=BASE,
                kind=r.kind, started_at=r.started_at)
    criteria = q.Criteria(RecordingFilter(tag=f"vip{recordings.device}"))
    with db_session:
        assert [r.id for r in q.search(criteria, 100, 0)] == [new, old]


def test_paging_is_stable_newest_first(recordings):
    made = [recordings("1", "2", minutes=m % 3) for m in range(7)]
    criteria = q.Criteria(RecordingFilter(), device_ids=[recordings.device])
    with db_session:
        pages = [q.search(criteria, 3, offset) for offset in (0, 3, 6)]
    seen = [r.id for page in pages for r in page]
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    times = [(r.started_at, r.id) for page in pages for r in page]
    assert times == sorted(times, reverse=True)
