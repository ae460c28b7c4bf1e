"""One poll of a source per API process, shared by every subscriber to it."""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)

T = TypeVar("T")
V = TypeVar("V")
_UNREAD = object()

FAILED_WAIT_MAX = 5.0  # seconds between tries while the source fails (a database away)


class SharedPoll(Generic[T]):
    """Reads `read` every `interval` seconds while at least one subscriber listens, and
    wakes every subscriber when what it reads changes: the database is polled once per
    process, not once per socket, and not at all when nobody listens."""

    def __init__(self, read: Callable[[], T], interval: float) -> None:
        self.read = read
        self.interval = interval
        self.polls = 0  # reads done, for tests and measurements
        self._listeners: set[asyncio.Event] = set()
        self._task: asyncio.Task[None] | None = None
        self._last: object = _UNREAD

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    async def changes(self) -> AsyncIterator[None]:
        """Yields once at once, then after each change of what `read` returns."""
        woken = asyncio.Event()
        woken.set()
        self._listeners.add(woken)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())
        try:
            while True:
                await woken.wait()
                woken.clear()
                yield
        finally:
            self._listeners.discard(woken)
            if not self._listeners and self._task is not None:
                self._task.cancel()
                self._task = None

    async def _poll(self) -> None:
        # The first read wakes everyone too: a change between a subscriber's first view and
        # this read would be missed otherwise (their views say the same: they send nothing).
        self._last = _UNREAD
        wait = self.interval
        while self._listeners:
            try:
                current = await run_in_threadpool(self.read)
            except Exception as exc:
                log.warning("could not read what subscribers follow: %s", exc)
                wait = min(max(wait * 2, 0.5), FAILED_WAIT_MAX)
            else:
                wait = self.interval
                self.polls += 1
                if current != self._last:
                    for listener in self._listeners:
                        listener.set()
                self._last = current
            await asyncio.sleep(wait)


async def follow(
    poll: SharedPoll[Any],
    view: Callable[[], Awaitable[V]],
    same: Callable[[V, V], bool] = operator.eq,
) -> AsyncIterator[V]:
    """A subscriber's view (already scoped to them) at once, then again each time the
    polled source changes and their view with it: a change they cannot see sends nothing."""
    last: V | None = None
    async for _ in poll.changes():
        current = await view()
        if last is None or not same(last, current):
            last = current
            yield current
