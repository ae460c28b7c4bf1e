"""What the capture answers an INVITE from: the settings, the push devices' addresses and
who owns each extension (the parties' organisations of the live-call rows).

They live in memory, refreshed from the database in the background and kept when it is
locked, slow or down; a copy in `<data>/capture-cache.json` lets a capture that restarts
while the database is away still answer the devices it knew.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from appliance.domain.settings import Settings
from appliance.services import devices, extension_owners, settings
from appliance.services.extension_owners import NO_OWNERS, OwnerTable

log = logging.getLogger(__name__)

CACHE_FILE = "capture-cache.json"

Sources = tuple[tuple[int, str], ...]  # (push device id, address or name)


@dataclass(frozen=True)
class Snapshot:
    settings: Settings = field(default_factory=Settings)
    sources: Sources = ()
    owners: OwnerTable = NO_OWNERS

    @functools.cached_property
    def _orgs(self) -> dict[tuple[int, str], int]:
        return {(d, e): o for d, e, o in self.owners.owners}

    def party_orgs(
        self, device_id: int | None, caller: str, callee: str
    ) -> tuple[int | None, int | None]:
        """The organisations of a call's two parties (extension_owners.party_orgs, from memory)."""
        if device_id is None:
            return None, None
        return self._orgs.get((device_id, caller)), self._orgs.get((device_id, callee))

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "settings": self.settings.to_store(),
                "sources": [list(s) for s in self.sources],
                "owners": {
                    "revision": self.owners.revision,
                    "rows": [list(o) for o in self.owners.owners],
                },
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Snapshot:
        raw = json.loads(data)
        sources = tuple((int(d), str(h)) for d, h in raw.get("sources", []))
        owned = raw.get("owners", {})
        owners = OwnerTable(
            int(owned.get("revision", 0)),
            tuple((int(d), str(e), int(o)) for d, e, o in owned.get("rows", [])),
        )
        return cls(Settings.from_store(raw.get("settings", {})), sources, owners)


def fetch(known: Snapshot) -> Snapshot:
    """From the database (a worker thread); the owners are read again only once changed."""
    owners = extension_owners.table(known.owners.revision) or known.owners
    return Snapshot(settings.current(), tuple(devices.push_sources()), owners)


def _save(path: Path, snapshot: Snapshot) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(snapshot.to_json())
    os.replace(tmp, path)


class Known:
    """The last snapshot, and fetches that never make an answer wait long: callers wait for a
    fetch that starts after they ask, for at most a bound; concurrent askers share one."""

    def __init__(self, path: Path, run: Callable[[Callable[[], Snapshot]], Awaitable[Snapshot]]):
        self.path = path
        self.now = Snapshot()
        self.reachable = True
        self._run = run  # runs a blocking function on the capture's database threads
        self._current: asyncio.Task[None] | None = None
        self._started = 0.0  # loop time the fetch in flight began
        self._next: asyncio.Future[None] | None = None

    def load_file(self) -> None:
        try:
            loaded = Snapshot.from_json(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("ignoring %s: %s", self.path, exc)
            return
        # The file may come from another database (restored, re-created) at the same
        # revision: its owners serve until the first fetch, which then reads them whole.
        self.now = replace(loaded, owners=replace(loaded.owners, revision=0))

    def add_source(self, device_id: int, host: str) -> None:
        self.now = replace(self.now, sources=(*self.now.sources, (device_id, host)))

    async def fresh(self, wait: float) -> Snapshot:
        """The snapshot as the database has it now, if it says within `wait` seconds; else
        the last one known (at once while a fetch has been stuck longer than that)."""
        stuck = self._current is not None and self._elapsed() > wait
        pending = self._schedule()
        if stuck:
            return self.now
        try:
            await asyncio.wait_for(asyncio.shield(pending), wait)
        except TimeoutError:
            pass
        return self.now

    def _schedule(self) -> asyncio.Future[None]:
        if self._current is None:
            self._current = self._start()
            return self._current
        if self._next is None:  # the one in flight may predate the change the asker wants
            self._next = asyncio.get_running_loop().create_future()
        return self._next

    def _elapsed(self) -> float:
        return asyncio.get_running_loop().time() - self._started

    def _start(self) -> asyncio.Task[None]:
        self._started = asyncio.get_running_loop().time()
        task = asyncio.create_task(self._fetch())
        task.add_done_callback(self._fetched)
        return task

    def _fetched(self, _: asyncio.Task[None]) -> None:
        self._current = None
        waiting, self._next = self._next, None
        if waiting is None:
            return
        self._current = self._start()

        def release(_: asyncio.Task[None]) -> None:
            if not waiting.done():
                waiting.set_result(None)

        self._current.add_done_callback(release)

    async def _fetch(self) -> None:
        try:
            snapshot = await self._run(functools.partial(fetch, self.now))
        except Exception as exc:
            if self.reachable:
                log.warning("database unreachable, answering from what was known: %s", exc)
            self.reachable = False
            return
        if not self.reachable:
            log.info("database reachable again")
        self.reachable = True
        if snapshot != self.now:
            self.now = snapshot
            try:
                await asyncio.to_thread(_save, self.path, snapshot)
            except OSError as exc:
                log.warning("could not write %s: %s", self.path, exc)
