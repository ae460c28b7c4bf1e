"""Admission of costly requests before they take one of the web server's worker threads."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from appliance.errors import Busy
from appliance.services.context import Actor


class Admission:
    """At most `slots` of one kind of work run at once, and one person has at most
    `per_person` of them in flight (running or waiting). A waiting request is a coroutine,
    not a blocked thread: a flood of them cannot starve sign-in, uploads or search."""

    def __init__(self, what: str, slots: int, per_person: int, wait_s: float) -> None:
        self.what, self.slots, self.per_person, self.wait_s = what, slots, per_person, wait_s
        self._free: asyncio.Semaphore | None = None  # made in the server's event loop
        self._in_flight: Counter[str] = Counter()

    @asynccontextmanager
    async def admit(self, person: str) -> AsyncIterator[None]:
        if self._in_flight[person] >= self.per_person:
            raise Busy(f"you already have {self.what} being computed; try again shortly", 5)
        if self._free is None:
            self._free = asyncio.Semaphore(self.slots)
        free = self._free
        self._in_flight[person] += 1
        try:
            try:
                await asyncio.wait_for(free.acquire(), self.wait_s)
            except TimeoutError:
                raise Busy(
                    f"too many {self.what} are being computed; try again shortly", 5
                ) from None
            try:
                yield
            finally:
                free.release()
        finally:
            self._in_flight[person] -= 1
            if not self._in_flight[person]:
                del self._in_flight[person]


def person_of(actor: Actor) -> str:
    """Whose requests these are: a user's sessions and tokens count together."""
    return f"user:{actor.user_id}" if actor.user_id is not None else f"{actor.via}:{actor.login}"


# Reports over years with search conditions read the recordings table. The service keeps
# its own bound for callers outside the web server.
REPORTS = Admission("reports", slots=3, per_person=2, wait_s=15)
