"""The admission of costly requests: slots, a person's share, the wait's end, and shares
held until the work's thread ends even when its request goes away."""

from __future__ import annotations

import asyncio
import threading

import pytest

from appliance.api.admission import Admission
from appliance.errors import Busy


def _blocking(release: threading.Event, started: list[str], person: str) -> str:
    started.append(person)
    assert release.wait(10)
    return person


def test_a_person_has_at_most_their_share_in_flight_and_others_wait_for_a_slot():
    gate = Admission("reports", slots=2, per_person=2, wait_s=5)
    release, started = threading.Event(), []

    async def ask(person: str) -> str:
        try:
            return await gate.run(person, _blocking, release, started, person)
        except Busy:
            return "busy"

    async def scenario() -> list[str]:
        tasks = [asyncio.create_task(ask(p)) for p in ("ann", "ann", "ann", "bob")]
        await asyncio.sleep(0.2)
        assert started == ["ann", "ann"]  # bob waits for a slot; ann's third is refused
        release.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(scenario()) == ["ann", "ann", "busy", "bob"]
    assert not gate._in_flight  # every share is given back


def test_a_wait_longer_than_allowed_is_refused_and_gives_its_share_back():
    gate = Admission("reports", slots=1, per_person=1, wait_s=0.05)
    release, started = threading.Event(), []

    async def scenario() -> None:
        holder = asyncio.create_task(gate.run("ann", _blocking, release, started, "ann"))
        await asyncio.sleep(0.1)
        with pytest.raises(Busy):
            await gate.run("bob", str, 1)
        assert "bob" not in gate._in_flight
        release.set()
        assert await holder == "ann"
        assert await gate.run("bob", str, 1) == "1"

    asyncio.run(scenario())


def test_a_request_that_goes_away_keeps_its_share_until_its_thread_ends():
    """GraphQL cancels a document's other fields when one fails; their threads run on, so
    their slots and shares must not be handed to the next request meanwhile."""
    gate = Admission("reports", slots=3, per_person=2, wait_s=5)
    release, started = threading.Event(), []

    async def scenario() -> None:
        asked = [asyncio.create_task(gate.run("ann", _blocking, release, started, "ann")) for _ in range(2)]
        await asyncio.sleep(0.2)
        for task in asked:
            task.cancel()
        await asyncio.gather(*asked, return_exceptions=True)
        with pytest.raises(Busy):  # both threads still run: ann's share is still taken
            await gate.run("ann", str, 1)
        release.set()
        for _ in range(100):
            if not gate._in_flight:
                break
            await asyncio.sleep(0.02)
        assert not gate._in_flight and gate._free is not None and gate._free._value == 3
        assert await gate.run("ann", str, 2) == "2"

    asyncio.run(scenario())
