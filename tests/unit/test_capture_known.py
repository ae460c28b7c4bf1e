"""The capture's view of settings and push devices: bounded waits, shared fetches, the cache file."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from appliance.capture import known as known_module
from appliance.capture.known import Known, Snapshot
from appliance.domain.settings import Settings, UnknownSourcePolicy
from appliance.services.extension_owners import OwnerTable

VIEW = Snapshot(Settings(unknown_push_source=UnknownSourcePolicy.AUTO_REGISTER, sip_port=5070), ((3, "10.0.0.9"),))


def test_the_cache_file_round_trips(tmp_path: Path):
    assert Snapshot.from_json(VIEW.to_json()) == VIEW
    path = tmp_path / "capture-cache.json"
    path.write_bytes(VIEW.to_json())
    view = Known(path, None)  # type: ignore[arg-type]
    view.load_file()
    assert view.now == VIEW
    path.write_bytes(b"{not json")
    view.load_file()  # a damaged file is ignored, the last view stays
    assert view.now == VIEW


def test_an_unreachable_or_hung_database_costs_the_bounded_wait_only(tmp_path: Path, monkeypatch):
    release = threading.Event()

    def hung(_known: Snapshot) -> Snapshot:
        release.wait(5)
        raise ConnectionError("no database")

    monkeypatch.setattr(known_module, "fetch", hung)

    async def scenario() -> float:
        view = Known(tmp_path / "c.json", lambda fn: asyncio.to_thread(fn))
        view.now = VIEW
        started = time.monotonic()
        got = await view.fresh(0.2)
        took = time.monotonic() - started
        assert got == VIEW, "the last view known answers"
        release.set()
        await asyncio.sleep(0.1)
        assert view.reachable is False
        return took

    assert asyncio.run(scenario()) < 0.5


def test_askers_share_fetches_and_get_one_started_after_they_asked(tmp_path: Path, monkeypatch):
    fetched: list[float] = []
    version = {"n": 0}

    def counting(_known: Snapshot) -> Snapshot:
        fetched.append(time.monotonic())
        time.sleep(0.05)
        return Snapshot(Settings(sip_port=5000 + version["n"]))

    monkeypatch.setattr(known_module, "fetch", counting)

    async def scenario() -> None:
        view = Known(tmp_path / "c.json", lambda fn: asyncio.to_thread(fn))
        first = asyncio.create_task(view.fresh(2))
        await asyncio.sleep(0.01)  # the first fetch is in flight...
        version["n"] = 1  # ...when the database changes
        late = await asyncio.gather(*(view.fresh(2) for _ in range(50)))
        await first
        assert len(fetched) == 2, "fifty askers, one more fetch"
        assert all(v.settings.sip_port == 5001 for v in late), "none got the stale view"
        assert (tmp_path / "c.json").exists()

    asyncio.run(scenario())


def test_owners_from_the_file_answer_until_the_database_is_read_whole(tmp_path: Path):
    owned = Snapshot(owners=OwnerTable(7, ((3, "201", 11), (3, "202", 12))))
    assert Snapshot.from_json(owned.to_json()) == owned
    assert owned.party_orgs(3, "201", "999") == (11, None) and owned.party_orgs(None, "201", "202") == (None, None)
    path = tmp_path / "capture-cache.json"
    path.write_bytes(owned.to_json())
    view = Known(path, None)  # type: ignore[arg-type]
    view.load_file()
    # Rows kept, revision forgotten: a database at revision 7 with other rows is read again.
    assert view.now.owners == OwnerTable(0, owned.owners.owners)
    assert view.now.party_orgs(3, "202", "201") == (12, 11)
