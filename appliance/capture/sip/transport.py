"""SIP over UDP and TCP: framing and sockets around SipHandler."""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass

from log_rate_limit import StreamRateLimitFilter

from appliance.capture.sip.message import SipParseError, frame_length, parse
from appliance.capture.sip.peer import Peer, Send
from appliance.capture.sip.server import SipHandler

log = logging.getLogger(__name__)
# What senders cause (garbage, floods, refused connections) is logged at most once per
# line of code every 10 s, with the count of the lines held back: a flood cannot fill the disk.
log.addFilter(StreamRateLimitFilter(period_sec=10, default_stream_id="file_line_no"))


class UdpTransport(asyncio.DatagramProtocol):
    def __init__(self, handler: SipHandler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            message = parse(data)
        except SipParseError as exc:
            log.info("dropped a malformed SIP datagram from %s:%d: %s", addr[0], addr[1], exc)
            peer = Peer((addr[0], addr[1]), self._sender(addr), "UDP")
            self.handler.bad_request(data, peer, str(exc))
            return
        self.handler.handle(message, Peer((addr[0], addr[1]), self._sender(addr), "UDP"))

    def _sender(self, addr: tuple[str, int]) -> Send:
        def send(data: bytes) -> None:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.sendto(data, addr)

        return send


@dataclass(frozen=True)
class TcpLimits:
    first_message_seconds: float  # to send a whole first message
    idle_seconds: float  # between whole messages, unless a call's dialog runs over it
    per_source: int  # open connections from one address
    total: int  # open connections in all: what the file limit leaves beside the calls

    @classmethod
    def for_files(
        cls, first_message_seconds: float, idle_seconds: float, per_source: int
    ) -> TcpLimits:
        """A quarter of the open-file limit for connections: each call's stream holds a
        socket and a spool file, and those must never be the ones that run out."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        files = 1 << 20 if soft == resource.RLIM_INFINITY else soft
        return cls(first_message_seconds, idle_seconds, per_source, max(16, min(4096, files // 4)))


@dataclass(eq=False)
class _Connection:
    source: tuple[str, int]
    writer: asyncio.StreamWriter
    last_message: float  # monotonic: when it opened, then its latest whole message
    messages: int = 0


class TcpConnections:
    """SIP over TCP: each connection framed and answered, within the limits: a connection
    that sends no whole message in time is closed (a slow trickle does not count as one),
    one address holds at most `per_source`, and when all `total` are taken the longest idle
    one without a call goes to make room."""

    def __init__(self, handler: SipHandler, limits: TcpLimits) -> None:
        self.handler = handler
        self.limits = limits
        self._open: dict[int, _Connection] = {}
        self._per_source: dict[str, int] = {}
        self.refused = 0
        self.timed_out = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._open)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        source = (address[0], address[1])
        if not self._admit(source[0]):
            self.refused += 1
            log.warning(
                "refused SIP/TCP from %s: %d connections from it (limit %d), %d in all (limit %d)",
                source[0],
                self._per_source.get(source[0], 0),
                self.limits.per_source,
                len(self._open),
                self.limits.total,
            )
            writer.transport.abort()
            return
        conn = _Connection(source, writer, time.monotonic())
        self._open[id(conn)] = conn
        self._per_source[source[0]] = self._per_source.get(source[0], 0) + 1
        try:
            await self._serve(conn, reader)
        finally:
            self._open.pop(id(conn), None)
            left = self._per_source.get(source[0], 1) - 1
            if left:
                self._per_source[source[0]] = left
            else:
                self._per_source.pop(source[0], None)
            if writer.transport.get_write_buffer_size():
                writer.transport.abort()  # close() would wait for a reader that never reads
            else:
                writer.close()

    def _admit(self, ip: str) -> bool:
        if self._per_source.get(ip, 0) >= self.limits.per_source:
            return False
        if len(self._open) < self.limits.total:
            return True
        busy = self.handler.tcp_dialog_sources()
        idle = [c for c in self._open.values() if c.source not in busy]
        if not idle:
            return False
        # Those that never sent a message go first, then the longest idle.
        oldest = min(idle, key=lambda c: (c.messages > 0, c.last_message))
        self.evicted += 1
        log.warning(
            "SIP/TCP connections at the limit (%d): closed the longest idle, from %s:%d",
            self.limits.total,
            *oldest.source,
        )
        self._open.pop(id(oldest), None)  # counted out now: its task ends on its own
        oldest.writer.transport.abort()
        return True

    def _deadline(self, conn: _Connection) -> float:
        limits = self.limits
        wait = limits.idle_seconds if conn.messages else limits.first_message_seconds
        return conn.last_message + wait

    async def _serve(self, conn: _Connection, reader: asyncio.StreamReader) -> None:
        source, writer, handler = conn.source, conn.writer, self.handler

        def send(data: bytes) -> None:
            if not writer.is_closing():
                writer.write(data)

        peer = Peer(source, send, "TCP")
        buffer = b""
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(
                        reader.read(65536), max(0.0, self._deadline(conn) - time.monotonic())
                    )
                except TimeoutError:
                    if source in handler.tcp_dialog_sources():
                        conn.last_message = time.monotonic()  # a call's quiet dialog stays
                        continue
                    self.timed_out += 1
                    log.info(
                        "closed SIP/TCP from %s:%d: no whole message in %d s",
                        *source,
                        int(time.monotonic() - conn.last_message),
                    )
                    return
                if not chunk:
                    return
                buffer += chunk
                lead = len(buffer) - len(buffer.lstrip(b"\r\n"))
                if lead >= 4 or 0 < lead < len(buffer):
                    if lead >= 4:  # a keep-alive ping (RFC 5626 §4.4.1): pong
                        send(b"\r\n")
                        if conn.messages:  # it keeps a connection up, not opens one
                            conn.last_message = time.monotonic()
                    buffer = buffer[lead:]
                while (length := frame_length(buffer)) is not None:
                    frame, buffer = buffer[:length], buffer[length:]
                    conn.last_message = time.monotonic()
                    conn.messages += 1
                    try:
                        message = parse(frame)
                    except SipParseError as exc:
                        log.info("skipped a malformed SIP message from %s:%d: %s", *source, exc)
                        handler.bad_request(frame, peer, str(exc))
                        continue
                    handler.handle(message, peer)
                    # A sender that never reads its answers must not hold us here for good.
                    await asyncio.wait_for(writer.drain(), self.limits.idle_seconds)
        except SipParseError as exc:
            # Framing is lost (no Content-Length, oversized headers): the stream cannot resync.
            log.info("closed SIP/TCP from %s:%d: %s", *source, exc)
        except TimeoutError:
            log.info("closed SIP/TCP from %s:%d: it does not read its answers", *source)
        except ConnectionError:
            pass
        except Exception:
            log.exception("SIP/TCP from %s:%d failed", *source)  # rate-limited like the rest
