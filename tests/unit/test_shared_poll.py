"""The API's shared poll: one read per interval whatever the number of subscribers, none
without one, and each subscriber woken once per change."""

from __future__ import annotations

import asyncio
import threading

from appliance.api.graphql.watch import SharedPoll, follow


def test_one_read_per_interval_for_many_subscribers_and_none_without():
    reads: list[int] = []
    lock = threading.Lock()
    value = {"v": 0}

    def read() -> int:
        with lock:
            reads.append(value["v"])
        return value["v"]

    async def scenario() -> tuple[list[list[int]], int, int]:
        poll: SharedPoll[object] = SharedPoll(read, 0.05)
        seen: list[list[int]] = [[] for _ in range(20)]

        async def subscriber(n: int) -> None:
            async def view() -> int:
                return value["v"]

            async for v in follow(poll, view):
                seen[n].append(v)

        tasks = [asyncio.create_task(subscriber(n)) for n in range(20)]
        await asyncio.sleep(0.5)
        value["v"] = 1
        await asyncio.sleep(0.3)
        during = len(reads)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.3)
        return seen, during, len(reads) - during

    seen, during, after = asyncio.run(scenario())
    # About 16 intervals in 0.8 s: one read each, not one per subscriber.
    assert 5 <= during <= 20, during
    assert after <= 1, "no reads once nobody listens"
    # Each saw the first value at once and the change once; nothing twice.
    assert all(s == [0, 1] for s in seen), seen
