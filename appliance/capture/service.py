"""`recorder capture`: the SIP listener on UDP and TCP."""

from __future__ import annotations

import asyncio
import logging
import resource

from appliance.capture.known import CACHE_FILE
from appliance.capture.sessions import Sessions
from appliance.capture.sip.server import Answered, SipHandler
from appliance.capture.sip.transport import TcpConnections, TcpLimits, UdpTransport
from appliance.services.context import AppContext

log = logging.getLogger(__name__)

CONNECT_RETRY_SECONDS = 3.0


class CaptureService:
    name = "capture"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        # The answers sent, shared: the sessions' and the handler's own alike are resent
        # to a retransmitted request.
        answered = Answered()
        self.sessions = Sessions(ctx, answered)
        self.handler = SipHandler(self.sessions, answered)
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connecting: asyncio.Task[None] | None = None

    async def start(self) -> asyncio.Task[None]:
        loop = asyncio.get_running_loop()
        _allow_many_files()
        # The settings come from the database if it answers soon, else from the cache file:
        # a capture restarted while the database is away still listens where it did.
        try:
            connected = await asyncio.wait_for(asyncio.to_thread(self.ctx.try_connect), 5)
        except TimeoutError:
            connected = False  # still trying in its thread; _connect goes on after it
        if not connected:
            log.warning("database unreachable at start: answering from %s", CACHE_FILE)
            self._connecting = asyncio.create_task(self._connect())
        await self.sessions.load_known()
        configured = self.ctx.config.sip_port
        self.port = (
            configured if configured is not None else self.sessions.known.now.settings.sip_port
        )
        host = self.ctx.config.http_host
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: UdpTransport(self.handler), local_addr=(host, self.port)
        )
        config = self.ctx.config
        limits = TcpLimits.for_files(
            config.sip_tcp_first_message_seconds,
            config.sip_tcp_idle_seconds,
            config.sip_tcp_per_source,
        )
        connections = TcpConnections(self.handler, limits)
        self._tcp = await asyncio.start_server(connections.serve, host, self.port)
        log.info(
            "SIP/TCP: %d connections at most (%d per address), idle ones closed after %d s",
            limits.total,
            limits.per_source,
            limits.idle_seconds,
        )
        await self.sessions.start(self.port)
        return asyncio.create_task(self._tcp.serve_forever())

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        await self.sessions.stop()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()

    async def _connect(self) -> None:
        while not await asyncio.to_thread(self.ctx.try_connect):
            await asyncio.sleep(CONNECT_RETRY_SECONDS)
        log.info("database connected")

    def status(self) -> str:
        return f"SIP on UDP and TCP port {self.port}, {self.sessions.active()} call(s) recording"


def _allow_many_files() -> None:
    """Each call holds a socket and a spool file per stream: 1000 calls need 4000 files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
