"""Runs one or more long-lived services in one event loop, as systemd expects of a unit.

Each service starts, says when it is serving, and stops on request. The runner owns the
signals: SIGTERM/SIGINT stop every service cleanly; a service that dies takes the process
down with a non-zero status so systemd restarts it. READY=1 is sent once all are serving,
WATCHDOG=1 from the same loop (a stalled loop stops pinging and is restarted).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Protocol

from appliance import sd

log = logging.getLogger("recorder")

STOP_GRACE_S = 20


class Service(Protocol):
    name: str

    async def start(self) -> asyncio.Task[None]:
        """Begin serving; return the task that runs until the service ends."""
        ...

    async def stop(self) -> None:
        """Finish cleanly; the task returned by start() ends soon after."""
        ...

    def status(self) -> str:
        """One line for systemd's STATUS= and the log."""
        ...


async def _supervise(services: list[Service]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks: dict[asyncio.Task[None], Service] = {}
    status = 0
    try:
        for service in services:
            tasks[await service.start()] = service
        summary = "; ".join(s.status() for s in services)
        print(f"recorder: {summary}", flush=True)
        sd.notify(f"READY=1\nSTATUS={summary}")
        watchdog = asyncio.create_task(sd.keep_watchdog_fed())
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        watchdog.cancel()
        for task, service in tasks.items():
            if task in done:
                log.error("%s stopped unexpectedly: %r", service.name, task.exception())
                status = 1
        stopping.cancel()
    finally:
        sd.notify("STOPPING=1")
        for service in reversed(services):
            try:
                await service.stop()
            except Exception:  # stop the others regardless
                log.exception("stopping %s", service.name)
        if tasks:
            # Within systemd's TimeoutStopSec, leaving room for the process to exit.
            await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        for task in tasks:
            if not task.done():
                log.warning(
                    "%s did not stop in %d s; cancelling it", tasks[task].name, STOP_GRACE_S
                )
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return status


def run(services: list[Service]) -> int:
    """Run until a signal or a failure; the process's exit status."""
    try:
        return asyncio.run(_supervise(services))
    except KeyboardInterrupt:  # the onefile binary's parent passes SIGTERM on as SIGINT
        return 0
