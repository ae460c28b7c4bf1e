"""SIP over TCP within limits (issue 11, defect 13): idle and trickling connections are
closed, one address holds a bounded number, a full table makes room by closing the longest
idle connection without a call, and what senders cause is logged at a bounded rate."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from appliance.capture.sip.server import SipHandler
from appliance.capture.sip.transport import TcpConnections, TcpLimits

OPTIONS = (
    "OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK{n}\r\n"
    "From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: c{n}\r\n"
    "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


class Handler(SipHandler):
    """A plain handler; `calls` names the sources whose connection carries a call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: set[tuple[str, int]] = set()

    def tcp_dialog_sources(self) -> set[tuple[str, int]]:
        return set(self.calls)


async def serving(limits: TcpLimits) -> tuple[TcpConnections, asyncio.Server, int]:
    conns = TcpConnections(Handler(), limits)
    server = await asyncio.start_server(conns.serve, "127.0.0.1", 0)
    return conns, server, server.sockets[0].getsockname()[1]


async def connect(port: int, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server closes the connection within the time (pongs read past)."""
    deadline = time.monotonic() + within
    try:
        while (left := deadline - time.monotonic()) > 0:
            if await asyncio.wait_for(reader.read(65536), left) == b"":
                return True
    except ConnectionError:
        return True
    except TimeoutError:
        pass
    return False


async def answered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int = 1) -> bool:
    writer.write(OPTIONS.format(n=n).encode())
    try:
        data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return False
    return data.startswith(b"SIP/2.0 200")


def run(coro):
    return asyncio.run(coro)


def test_a_connection_that_sends_nothing_is_closed_after_the_first_message_time():
    async def go():
        conns, server, port = await serving(TcpLimits(0.5, 30, 10, 100))
        reader, _ = await connect(port)
        assert not await closed(reader, 0.3)
        assert await closed(reader, 1.0)
        assert conns.timed_out == 1 and len(conns) == 0
        server.close()

    run(go())


def test_a_trickle_of_bytes_is_not_a_message():
    async def go():
        _conns, server, port = await serving(TcpLimits(0.6, 30, 10, 100))
        reader, writer = await connect(port)
        started = time.monotonic()
        for byte in OPTIONS.format(n=1)[:40]:
            if writer.is_closing() or reader.at_eof():
                break
            try:
                writer.write(byte.encode())
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0.05)
        assert await closed(reader, 1.0)
        assert time.monotonic() - started < 1.6
        server.close()

    run(go())


def test_messages_and_keep_alives_keep_a_connection_open_idle_ones_close():
    async def go():
        _conns, server, port = await serving(TcpLimits(0.4, 0.6, 10, 100))
        reader, writer = await connect(port)
        assert await answered(reader, writer)
        for _ in range(4):  # 1.2 s of keep-alive pings, each answered with a pong
            await asyncio.sleep(0.3)
            writer.write(b"\r\n\r\n")
            assert await asyncio.wait_for(reader.readexactly(2), 1) == b"\r\n"
        assert await answered(reader, writer, 2)
        assert await closed(reader, 1.5)
        server.close()

    run(go())


def test_a_connection_carrying_a_call_stays_however_quiet():
    async def go():
        conns, server, port = await serving(TcpLimits(0.3, 0.3, 10, 100))
        reader, writer = await connect(port)
        assert await answered(reader, writer)
        handler = conns.handler
        assert isinstance(handler, Handler)
        handler.calls.add(writer.get_extra_info("sockname")[:2])
        assert not await closed(reader, 1.2)
        handler.calls.clear()
        assert await closed(reader, 1.0)
        server.close()

    run(go())


def test_one_address_holds_at_most_its_share_others_still_get_in():
    async def go():
        conns, server, port = await serving(TcpLimits(5, 30, 3, 100))
        held = [await connect(port, "127.0.0.5") for _ in range(3)]
        extra = [await connect(port, "127.0.0.5") for _ in range(3)]
        for reader, _ in extra:
            assert await closed(reader, 1.0), "over the per-address limit"
        assert all([await answered(r, w, n) for n, (r, w) in enumerate(held)])
        other = await connect(port, "127.0.0.6")
        assert await answered(*other)
        assert conns.refused == 3
        server.close()

    run(go())


def test_when_all_are_taken_the_longest_idle_without_a_call_makes_room():
    async def go():
        conns, server, port = await serving(TcpLimits(5, 30, 100, 4))
        handler = conns.handler
        assert isinstance(handler, Handler)
        first = await connect(port, "127.0.0.7")
        assert await answered(*first)
        handler.calls.add(first[1].get_extra_info("sockname")[:2])  # the oldest carries a call
        idle = [await connect(port, "127.0.0.8") for _ in range(3)]
        await asyncio.sleep(0.1)
        newcomer = await connect(port, "127.0.0.9")
        assert await answered(*newcomer)
        assert await closed(idle[0][0], 1.0), "the longest idle one went"
        assert not await closed(first[0], 0.3), "the one with a call stayed"
        assert conns.evicted == 1 and len(conns) == 4
        server.close()

    run(go())


def test_a_flood_of_garbage_writes_a_bounded_log(caplog):
    async def go():
        _conns, server, port = await serving(TcpLimits(5, 30, 100, 1000))
        for n in range(200):
            reader, writer = await connect(port)
            writer.write(b"INVITE\r\n\r\n")  # no Content-Length: framing lost, closed
            assert await closed(reader, 1.0), n
        server.close()

    with caplog.at_level(logging.INFO, logger="appliance.capture.sip.transport"):
        run(go())
    lines = [r for r in caplog.records if r.name == "appliance.capture.sip.transport"]
    assert 1 <= len(lines) <= 3


@pytest.mark.parametrize("soft", [1024, 64, 1 << 20])
def test_the_connection_limit_leaves_most_files_to_the_calls(monkeypatch, soft):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _: (soft, soft))
    total = TcpLimits.for_files(10, 60, 32).total
    assert 16 <= total <= max(16, soft // 4)


def test_keep_alives_alone_do_not_hold_a_connection_that_never_sent_a_message():
    async def go():
        conns, server, port = await serving(TcpLimits(0.5, 30, 10, 100))
        reader, writer = await connect(port)
        began = time.monotonic()
        while time.monotonic() - began < 1.5:
            if reader.at_eof():
                break
            try:
                writer.write(b"\r\n\r\n")
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0.1)
        assert await closed(reader, 1.0)
        assert time.monotonic() - began < 1.5, "closed at the first-message limit"
        assert conns.timed_out == 1
        server.close()

    run(go())


def test_room_is_made_first_from_connections_that_never_sent_a_message():
    async def go():
        conns, server, port = await serving(TcpLimits(5, 30, 100, 3))
        silent = await connect(port, "127.0.0.11")
        await asyncio.sleep(0.05)
        talking = [await connect(port, "127.0.0.12") for _ in range(2)]
        for n, (r, w) in enumerate(talking):
            assert await answered(r, w, n)
        newcomer = await connect(port, "127.0.0.13")
        assert await answered(*newcomer)
        assert await closed(silent[0], 1.0)
        assert not await closed(talking[0][0], 0.3), "a device that spoke stays"
        assert conns.evicted == 1 and len(conns) == 3
        server.close()

    run(go())


def test_a_sender_that_never_reads_its_answers_is_closed():
    async def go():
        conns, server, port = await serving(TcpLimits(5, 0.5, 10, 100))
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        batch = "".join(OPTIONS.format(n=n) for n in range(200)).encode()
        began, closed_at = time.monotonic(), None
        loop = asyncio.get_running_loop()
        while time.monotonic() - began < 20:
            try:
                await asyncio.wait_for(loop.sock_sendall(sock, batch), 1)
            except TimeoutError:
                continue
            except ConnectionError:
                closed_at = time.monotonic()
                break
        sock.close()
        server.close()
        assert closed_at is not None, "still open after 20 s of unread answers"
        assert len(conns) == 0

    run(go())
