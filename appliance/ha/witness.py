"""Whether the witness answers: a TCP connection to host:port, or one ping to a host (a
gateway answers pings, rarely a port). A standby that reaches neither the primary nor the
witness is the isolated one and must not take over."""

from __future__ import annotations

import asyncio
import shutil

from appliance.domain.ha import parse_address

TIMEOUT = 2.0


async def reachable(witness: str) -> bool:
    host, port = parse_address(witness, None, "witness")
    if port is not None:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True
    ping = shutil.which("ping")
    if ping is None:
        return False
    process = await asyncio.create_subprocess_exec(
        ping, "-n", "-c", "1", "-W", str(int(TIMEOUT)), host,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        return await asyncio.wait_for(process.wait(), TIMEOUT + 1) == 0
    except TimeoutError:
        process.kill()
        await process.wait()
        return False
