"""What the capture writes behind its calls, never in their way: the live-call rows, and
the stored recordings of the calls that ended (kept in the spool while the database is
away, and tried again)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from appliance.capture import spool
from appliance.capture.call import Counters
from appliance.capture.finalize import SpoolDamaged, finalize, set_aside
from appliance.services import active_calls
from appliance.services.active_calls import LiveCall
from appliance.services.context import AppContext

log = logging.getLogger(__name__)

FINALIZING_AT_ONCE = 2  # stores run beside the receiver thread; more would starve it
RETRY_MAX_SECONDS = 30.0  # back-off ceiling for rows and stores while the database is away

InDb = Callable[..., Awaitable[Any]]  # runs a blocking call on the capture's database threads


class LiveRows:
    """The live-call rows as they should be (None: gone), written batched and retried."""

    def __init__(self, in_db: InDb, written_again: Callable[[], None]) -> None:
        self._in_db = in_db
        self._written_again = written_again  # a write went through after failing ones
        self._rows: dict[str, LiveCall | None] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()

    def want(self, key: str, live: LiveCall) -> None:
        if self._rows.get(key) == live:
            return
        self._rows[key] = live
        self._dirty.add(key)
        self._wake.set()

    def drop(self, key: str) -> None:
        if key in self._rows:
            self._rows[key] = None
            self._dirty.add(key)
            self._wake.set()

    async def run(self) -> None:
        """Write the rows behind the calls, batched, retried with back-off; the first write
        after a start also removes every row no call of ours has (a crash's)."""
        self._wake.set()
        exclusive, delay = True, 1.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            keys = set(self._rows) if exclusive else set(self._dirty)
            self._dirty -= keys
            batch = {k: self._rows.get(k) for k in keys}
            try:
                await self._in_db(functools.partial(active_calls.sync, batch, exclusive=exclusive))
            except Exception as exc:
                log.warning("live-call rows not written yet (%d): %s", len(batch), exc)
                self._dirty |= keys
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                self._wake.set()
                continue
            if delay > 1.0:
                self._written_again()
            exclusive, delay = False, 1.0
            for key, live in batch.items():
                if live is None and key not in self._dirty and self._rows.get(key) is None:
                    self._rows.pop(key, None)


class Stores:
    """Spooled calls into recordings, a few at a time; those the database does not take
    now wait in line and are tried again."""

    def __init__(self, ctx: AppContext, counters: Counters, background: set[asyncio.Task[None]]):
        self.ctx = ctx
        self.counters = counters
        self._background = background  # the loops the capture cancels at stop
        self._threads = ThreadPoolExecutor(FINALIZING_AT_ONCE, "capture-store")
        self.unstored: list[Path] = []  # calls in the spool waiting for the database
        self._retrying: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """The database took a write again: so may it take the stores."""
        self._wake.set()

    def shutdown(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def store(self, folder: Path) -> bool:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._threads, finalize, self.ctx, folder)
        except SpoolDamaged as exc:
            # Retrying cannot mend it, and a call retried forever would hold up the others.
            try:
                where = await asyncio.to_thread(set_aside, folder)
            except OSError as move:
                log.error("a spooled call cannot be read (%s) nor set aside: %s", exc, move)
                return False
            self.counters.damaged += 1
            log.error("a spooled call cannot be read (%s); set aside in %s", exc, where)
            return True
        except Exception as exc:
            self.counters.failed += 1
            if folder not in self.unstored:
                log.exception("could not store the call in %s; it stays there", folder)
            else:
                log.warning("could not store the call in %s yet: %s", folder, exc)
            return False
        self.counters.recorded += 1
        return True

    async def store_or_queue(self, folder: Path) -> None:
        """Store now, unless calls already wait for the database: then join them rather
        than hold a store thread for the length of a lock timeout."""
        if self.unstored or not await self.store(folder):
            self.queue(folder)

    def queue(self, folder: Path) -> None:
        if folder not in self.unstored:
            self.unstored.append(folder)
        if self._retrying is None:
            self._retrying = asyncio.create_task(self._retry())
            self._background.add(self._retrying)
            self._retrying.add_done_callback(self._background.discard)

    async def _retry(self) -> None:
        """Store the spooled calls one by one while the database takes them; when it does
        not, back off (and wake early once a row write shows it is back). A call that fails
        goes to the back of the line, so one that cannot be stored holds up no other."""
        delay = 1.0
        try:
            while self.unstored:
                folder = self.unstored[0]
                if (folder / spool.CALL_FILE).exists() and not await self.store(folder):
                    if folder in self.unstored:
                        self.unstored.remove(folder)
                        self.unstored.append(folder)
                    try:
                        await asyncio.wait_for(self._wake.wait(), delay)
                    except TimeoutError:
                        pass
                    self._wake.clear()
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
                    continue
                if folder in self.unstored:
                    self.unstored.remove(folder)
                delay = 1.0
        finally:
            self._retrying = None
