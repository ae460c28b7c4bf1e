"""Whether the witness answers: a TCP connection to host:port, or one ping to a host (a
gateway answers pings, rarely a port). A standby that reaches neither the primary nor the
witness is the isolated one and must not take over."""

from __future__ import annotations

import asyncio
import os

import icmplib

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
    try:
        # An unprivileged ICMP socket (net.ipv4.ping_group_range, which systemd opens to
        # every group) for the service; root (the tests' namespaces) uses a raw one.
        answer = await icmplib.async_ping(
            host, count=1, timeout=TIMEOUT, privileged=os.geteuid() == 0
        )
    except icmplib.exceptions.ICMPLibError:
        return False
    return bool(answer.is_alive)
