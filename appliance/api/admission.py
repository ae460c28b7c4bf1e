"""Admission of costly requests before they take one of the web server's worker threads."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from appliance.errors import Busy
from appliance.services.context import Actor

T = TypeVar("T")


class Admission:
    """At most `slots` of one kind of work run at once, and one person has at most
    `per_person` of them in flight (running or waiting). A waiting request is a coroutine,
    not a blocked thread: a flood of them cannot starve sign-in, uploads or search."""

    def __init__(self, what: str, slots: int, per_person: int, wait_s: float) -> None:
        self.what, self.slots, self.per_person, self.wait_s = what, slots, per_person, wait_s
        self._free: asyncio.Semaphore | None = None  # made in the server's event loop
        self._in_flight: Counter[str] = Counter()

    def _leave(self, person: str) -> None:
        self._in_flight[person] -= 1
        if not self._in_flight[person]:
            del self._in_flight[person]

    async def run(self, person: str, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in the thread pool once admitted. The slot and the person's share are
        held until the thread is done, even when the request that asked goes away: a
        cancelled coroutine does not stop its thread (GraphQL cancels a document's other
        fields when one fails)."""
        if self._in_flight[person] >= self.per_person:
            raise Busy(f"you already have {self.what} being computed; try again shortly", 5)
        if self._free is None:
            self._free = asyncio.Semaphore(self.slots)
        free = self._free
        self._in_flight[person] += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await free.acquire()
        except TimeoutError:
            self._leave(person)
            raise Busy(f"too many {self.what} are being computed; try again shortly", 5) from None
        except BaseException:
            self._leave(person)
            raise
        work = asyncio.ensure_future(run_in_threadpool(fn, *args))

        def done(_: asyncio.Future[T]) -> None:
            free.release()
            self._leave(person)

        work.add_done_callback(done)
        return await asyncio.shield(work)


def person_of(actor: Actor) -> str:
    """Whose requests these are: a user's sessions and tokens count together."""
    return f"user:{actor.user_id}" if actor.user_id is not None else f"{actor.via}:{actor.login}"


# Reports over years with search conditions read the recordings table. The service keeps
# its own bound for callers outside the web server.
REPORTS = Admission("reports", slots=3, per_person=2, wait_s=15)
