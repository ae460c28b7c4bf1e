"""SIP over UDP and TCP: framing and sockets around SipHandler."""

from __future__ import annotations

import asyncio
import logging

from appliance.capture.sip.message import SipParseError, frame_length, parse
from appliance.capture.sip.peer import Peer, Send
from appliance.capture.sip.server import SipHandler

log = logging.getLogger(__name__)


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
            self.handler.counters.malformed += 1
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


async def serve_tcp_connection(
    handler: SipHandler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    address = writer.get_extra_info("peername")
    source = (address[0], address[1])

    def send(data: bytes) -> None:
        if not writer.is_closing():
            writer.write(data)

    peer = Peer(source, send, "TCP")
    buffer = b""
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            buffer += chunk
            while (length := frame_length(buffer)) is not None:
                frame, buffer = buffer[:length], buffer[length:]
                try:
                    message = parse(frame)
                except SipParseError as exc:
                    handler.counters.malformed += 1
                    log.info("skipped a malformed SIP message from %s:%d: %s", *source, exc)
                    handler.bad_request(frame, peer, str(exc))
                    continue
                handler.handle(message, peer)
                await writer.drain()
    except SipParseError as exc:
        # Framing is lost (no Content-Length, oversized headers): the stream cannot resync.
        handler.counters.malformed += 1
        log.info("closed SIP/TCP from %s:%d: %s", *source, exc)
    except ConnectionError:
        pass
    finally:
        writer.close()
