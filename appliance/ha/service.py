"""`recorder failover`: the appliance's primary/standby role.

Until a standby is configured the appliance is standalone: this service holds that role,
so the unit is in place and watched when primary/standby sync (R-HA) arrives.
"""

from __future__ import annotations

import asyncio


class FailoverService:
    name = "failover"

    def __init__(self) -> None:
        self._stop = asyncio.Event()

    async def _hold(self) -> None:
        await self._stop.wait()

    async def start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._hold())

    async def stop(self) -> None:
        self._stop.set()

    def status(self) -> str:
        return "role standalone (no standby configured)"
