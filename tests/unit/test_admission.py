"""The admission of costly requests: slots, a person's share, the wait's end."""

from __future__ import annotations

import asyncio

import pytest

from appliance.api.admission import Admission
from appliance.errors import Busy


def test_a_person_has_at_most_their_share_in_flight_and_others_wait_for_a_slot():
    gate = Admission("reports", slots=2, per_person=2, wait_s=5)
    release = asyncio.Event()
    order: list[str] = []

    async def work(person: str) -> str:
        try:
            async with gate.admit(person):
                order.append(person)
                await release.wait()
            return "done"
        except Busy:
            return "busy"

    async def scenario() -> list[str]:
        tasks = [asyncio.create_task(work(p)) for p in ("ann", "ann", "ann", "bob")]
        await asyncio.sleep(0.05)
        assert order == ["ann", "ann"]  # bob waits for a slot; ann's third is refused
        release.set()
        return await asyncio.gather(*tasks)

    assert asyncio.run(scenario()) == ["done", "done", "busy", "done"]
    assert not gate._in_flight  # every share is given back


def test_a_wait_longer_than_allowed_is_refused_and_gives_its_share_back():
    gate = Admission("reports", slots=1, per_person=1, wait_s=0.05)

    async def scenario() -> None:
        held = asyncio.Event()
        done = asyncio.Event()

        async def hold() -> None:
            async with gate.admit("ann"):
                held.set()
                await done.wait()

        holder = asyncio.create_task(hold())
        await held.wait()
        with pytest.raises(Busy):
            async with gate.admit("bob"):
                pass
        assert "bob" not in gate._in_flight
        done.set()
        await holder
        async with gate.admit("bob"):
            pass

    asyncio.run(scenario())
