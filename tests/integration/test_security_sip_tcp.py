"""SIP over TCP cannot starve the recorder (issue 11, defect 13). Under a 1024 file limit,
1,200 idle connections from 40 addresses once made a registered device's INVITE fail with
500 and wrote 37 MB of log in seconds: now a SIPREC call is answered and recorded in the
middle of such a flood, a newcomer still gets in, one address is held to its share, idle
connections are closed, and the log stays small."""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator

import pytest

from tests.integration.test_capture_db_outage import prepared
from tests.support import sipp
from tests.support.server import ApplianceServer, Client
from tests.support.sip import request, tcp_exchange
from tests.support.siprec_client import SiprecCall, send_tones

FIRST_MESSAGE_SECONDS = 3
PER_SOURCE = 32


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[ApplianceServer, Client]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))  # the flood's own sockets
    server = ApplianceServer(file_limit=1024)
    server.env["RECORDER_SIP_TCP_FIRST_MESSAGE_SECONDS"] = str(FIRST_MESSAGE_SECONDS)
    server.env["RECORDER_SIP_TCP_PER_SOURCE"] = str(PER_SOURCE)
    server.start()
    try:
        yield server, prepared(server)
    finally:
        server.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def flood(port: int, sources: int, each: int, first: int = 10) -> list[socket.socket]:
    """Idle connections, `each` from each of `sources` loopback addresses."""
    opened = []
    for s in range(sources):
        for _ in range(each):
            sock = socket.socket()
            sock.bind((f"127.0.{first + s // 250}.{1 + s % 250}", 0))
            try:
                sock.connect(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            opened.append(sock)
    return opened


def still_open(socks: list[socket.socket]) -> int:
    """Connections the server has not closed (a closed one reads EOF or a reset)."""
    count = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            count += sock.recv(1) != b""
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


def test_a_flood_of_idle_connections_leaves_calls_recorded_and_the_log_small(recorder):
    server, api = recorder
    log = server.root / "server.log"
    log_before = log.stat().st_size
    socks = flood(server.sip_port, sources=40, each=30)
    try:
        time.sleep(0.5)
        # A registered device's SIPREC call in the middle of the flood.
        call = SiprecCall(
            server.sip_port,
            sipp.offer_body(["1"], [sipp.Party("a", "7001", "1"), sipp.Party("b", "8001", "1")]),
        )
        before = api.data("{ recordings { total } }")["recordings"]["total"]
        assert call.invite(timeout=5).status == 200
        assert call.answered_in < 1.0
        call.ack()
        send_tones([call], 1.0)
        assert call.bye() == 200
        call.close()
        # A newcomer from an address of its own is answered: the longest idle made room.
        answer = tcp_exchange(server.sip_port, request("OPTIONS"))
        assert answer and answer[0].status == 200
        assert still_open(socks) <= 1024 // 4
        deadline = time.monotonic() + 20
        while api.data("{ recordings { total } }")["recordings"]["total"] <= before:
            assert time.monotonic() < deadline, "the call in the flood was not recorded"
            time.sleep(0.3)
        item = api.data("{ recordings(pageSize: 1) { items { caller callee duration } } }")
        assert item["recordings"]["items"][0]["callee"] == "8001"
        # Nothing said within FIRST_MESSAGE_SECONDS: every idle connection is closed.
        time.sleep(FIRST_MESSAGE_SECONDS + 2)
        assert still_open(socks) == 0
    finally:
        for sock in socks:
            sock.close()
    text = log.read_bytes()[log_before:]
    assert len(text) < 64 * 1024, f"{len(text)} bytes of log for the flood"
    assert b"Too many open files" not in text
    assert b"Server Internal Error" not in text


def test_one_address_is_held_to_its_share(recorder):
    server, _ = recorder
    socks = flood(server.sip_port, sources=1, each=PER_SOURCE + 20, first=30)
    try:
        time.sleep(0.5)
        assert still_open(socks) == PER_SOURCE
        # The address's own connections still work; a new one beyond the share does not.
        kept = socks[0]
        kept.setblocking(True)
        kept.settimeout(5)
        kept.sendall(request("OPTIONS").replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        assert kept.recv(65536).startswith(b"SIP/2.0 200")
    finally:
        for sock in socks:
            sock.close()
