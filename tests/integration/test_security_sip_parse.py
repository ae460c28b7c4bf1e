"""Malformed numbers in SIP headers (issue 11, defect 10): a 5000-digit Content-Length was an
uncaught ValueError in the UDP handler. Every such request that can be answered gets
400 Bad Request with the reason; over TCP a stream whose framing is lost is closed; the
server goes on serving."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from appliance.capture.sip.message import SipResponse, parse
from tests.support.server import ApplianceServer
from tests.support.sip import request, tcp_exchange, udp_exchange


@pytest.fixture(scope="module")
def server() -> Iterator[ApplianceServer]:
    server = ApplianceServer().start()
    try:
        yield server
    finally:
        server.stop()


def with_header(name: str, value: str) -> bytes:
    data = request("OPTIONS")
    if name == "Content-Length":
        return data.replace(b"Content-Length: 0", f"Content-Length: {value}".encode())
    return data.replace(b"Max-Forwards: 70", f"{name}: {value}".encode())


BAD = [
    ("Content-Length", "9" * 5000),
    ("Content-Length", "-5"),
    ("Content-Length", "12abc"),
    ("Content-Length", "\u0663"),  # an Arabic-Indic digit: str.isdigit() says yes, int() too
    ("Max-Forwards", "7" * 5000),
    ("Max-Forwards", "seventy"),
    ("Expires", "-1"),
]


@pytest.mark.parametrize(("name", "value"), BAD, ids=lambda v: v[:12])
def test_bad_numbers_over_udp_get_400_with_the_reason(server, name, value):
    reply = udp_exchange(server.sip_port, with_header(name, value))
    assert isinstance(reply, SipResponse)
    assert reply.status == 400 and reply.reason == "Bad Request"
    assert name.lower() in (reply.header("warning") or "").lower()
    assert len(reply.header("warning") or "") < 300, "the reason does not echo 5000 digits"
    assert udp_exchange(server.sip_port, request("OPTIONS")).status == 200


def test_a_5000_digit_cseq_is_dropped_and_service_goes_on(server):
    """Without a CSeq no answer can be built: dropped, and nothing breaks."""
    data = request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: " + b"1" * 5000 + b" OPTIONS")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        s.sendto(data, ("127.0.0.1", server.sip_port))
        with pytest.raises(TimeoutError):
            s.recv(65536)
    assert udp_exchange(server.sip_port, request("OPTIONS")).status == 200


@pytest.mark.parametrize("value", ["9" * 5000, "-5"], ids=["5000-digits", "negative"])
def test_a_bad_content_length_over_tcp_closes_the_connection(server, value):
    with socket.create_connection(("127.0.0.1", server.sip_port), timeout=5) as s:
        s.sendall(with_header("Content-Length", value))
        assert s.recv(65536) == b"", "framing is lost: the stream is closed"
    assert tcp_exchange(server.sip_port, request("OPTIONS"))[0].status == 200


def test_a_bad_number_in_a_framed_tcp_message_gets_400_and_the_stream_goes_on(server):
    bad = with_header("Max-Forwards", "1" * 5000)
    replies = tcp_exchange(server.sip_port, bad + request("OPTIONS"), replies=2)
    assert [r.status for r in replies] == [400, 200]


def test_no_uncaught_errors_were_logged(server):
    for name, value in BAD:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(with_header(name, value), ("127.0.0.1", server.sip_port))
    assert udp_exchange(server.sip_port, request("OPTIONS")).status == 200
    log = (server.root / "server.log").read_text()
    assert "Traceback" not in log and "ValueError" not in log, log[-3000:]


def test_parse_refuses_what_the_server_refuses():
    """The parser alone: a typed error, never ValueError."""
    from appliance.capture.sip.message import SipParseError

    for name, value in BAD:
        with pytest.raises(SipParseError, match=name):
            parse(with_header(name, value))
