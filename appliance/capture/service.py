"""`recorder capture`: the SIP listener on UDP and TCP."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
from datetime import UTC, datetime

from appliance.capture.known import CACHE_FILE
from appliance.capture.sessions import Sessions
from appliance.capture.sip.server import Answered, SipHandler
from appliance.capture.sip.transport import TcpConnections, TcpLimits, UdpTransport
from appliance.domain.metrics import CAPTURE_FIGURES_FILE, CaptureFigures
from appliance.services.context import AppContext

log = logging.getLogger(__name__)

CONNECT_RETRY_SECONDS = 3.0
FIGURES_SECONDS = 5.0


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
        self._figures: asyncio.Task[None] | None = None

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
        self._figures = asyncio.create_task(self._publish_figures())
        return asyncio.create_task(self._tcp.serve_forever())

    async def stop(self) -> None:
        for task in (self._connecting, self._figures):
            if task is not None:
                task.cancel()
        await self.sessions.stop()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()

    async def _connect(self) -> None:
        while not await asyncio.to_thread(self.ctx.try_connect):
            await asyncio.sleep(CONNECT_RETRY_SECONDS)
        log.info("database connected")

    def figures(self) -> CaptureFigures:
        s = self.sessions
        return CaptureFigures(
            pid=os.getpid(),
            at=datetime.now(UTC),
            active_calls=s.active(),
            calls=s.counters.calls,
            refused=s.counters.refused,
            recorded=s.counters.recorded,
            packets=s.media.receiver.packets_total(),
            waiting=len(s.stores.unstored),
        )

    async def _publish_figures(self) -> None:
        """The monitor's view of the capture, through the data directory: a file replaced
        every few seconds, so the capture never waits on anyone to say how it is."""
        target = self.ctx.config.data_dir / CAPTURE_FIGURES_FILE
        temporary = target.with_name(target.name + ".tmp")

        def write(text: str) -> None:
            target.parent.mkdir(exist_ok=True)
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(target)

        while True:
            try:
                # Off the loop that answers SIP: a stalled disk delays the figures only.
                await asyncio.to_thread(write, json.dumps(self.figures().to_json()))
            except OSError as exc:  # a full or read-only disk: the figures wait, calls do not
                log.warning("cannot publish the capture's figures: %s", exc)
            await asyncio.sleep(FIGURES_SECONDS)

    def status(self) -> str:
        return f"SIP on UDP and TCP port {self.port}, {self.sessions.active()} call(s) recording"


def _allow_many_files() -> None:
    """Each call holds a socket and a spool file per stream: 1000 calls need 4000 files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
