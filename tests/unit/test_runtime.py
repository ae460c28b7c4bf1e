"""The service runner: ready once all serve, clean stop on SIGTERM, non-zero when one dies."""

from __future__ import annotations

import asyncio
import os
import signal

from appliance import runtime


class Fake:
    def __init__(self, name: str, fail_after: float | None = None) -> None:
        self.name = name
        self.fail_after = fail_after
        self.events: list[str] = []
        self._stop = asyncio.Event()

    async def _run(self) -> None:
        if self.fail_after is not None:
            await asyncio.sleep(self.fail_after)
            raise RuntimeError("socket gone")
        await self._stop.wait()
        self.events.append("finished")

    async def start(self) -> asyncio.Task[None]:
        self.events.append("started")
        if self.name == "terminator":
            asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
        return asyncio.create_task(self._run())

    async def stop(self) -> None:
        self.events.append("stop")
        self._stop.set()

    def status(self) -> str:
        return self.name


def test_sigterm_stops_every_service_cleanly():
    services = [Fake("a"), Fake("terminator")]
    assert runtime.run(services) == 0
    for s in services:
        assert s.events == ["started", "stop", "finished"], s.name


def test_a_service_that_dies_stops_the_others_and_fails_the_process():
    healthy, dying = Fake("healthy"), Fake("dying", fail_after=0.1)
    assert runtime.run([healthy, dying]) == 1
    assert healthy.events == ["started", "stop", "finished"]
