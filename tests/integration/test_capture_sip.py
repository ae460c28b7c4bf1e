"""`recorder capture` answers SIP over UDP and TCP, refuses what it cannot record, and keeps
serving through malformed input."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.support.server import COMMAND, ApplianceServer
from tests.support.sip import request, tcp_exchange, udp_exchange

PLAIN_SDP = (
    b"v=0\r\no=- 1247 9367 IN IP4 172.31.93.236\r\ns=SIP Call\r\nc=IN IP4 172.31.93.236\r\n"
    b"t=0 0\r\nm=audio 10292 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)


def test_options_over_udp_answers_to_the_packet_source(appliance):
    reply = udp_exchange(appliance.server.sip_port, request("OPTIONS"))
    assert reply.status == 200
    assert "siprec" in reply.tokens("supported")
    assert "INVITE" in reply.header("allow")
    # The Via named 198.51.100.7, but the answer came back here, marked with the real source.
    assert "received=127.0.0.1" in reply.header("via") and "rport=" in reply.header("via")


def test_options_over_tcp_with_pipelined_requests(appliance):
    replies = tcp_exchange(appliance.server.sip_port, request("OPTIONS") + request("OPTIONS", cseq=2), 2)
    assert [r.status for r in replies] == [200, 200]
    assert [r.cseq[0] for r in replies] == [1, 2]


def test_a_plain_invite_is_refused_clearly(appliance):
    invite = request("INVITE", body=PLAIN_SDP, content_type="application/sdp")
    reply = udp_exchange(appliance.server.sip_port, invite)
    assert reply.status == 488
    assert "only SIPREC recording sessions" in reply.header("warning")


def test_retransmitted_invite_gets_the_same_answer(appliance):
    invite = request("INVITE", body=PLAIN_SDP, content_type="application/sdp")
    first = udp_exchange(appliance.server.sip_port, invite)
    again = udp_exchange(appliance.server.sip_port, invite)
    assert first.header("to") == again.header("to") and ";tag=" in first.header("to")


@pytest.mark.parametrize("method", ["BYE", "CANCEL", "UPDATE"])
def test_requests_for_unknown_calls_get_481(appliance, method):
    reply = udp_exchange(appliance.server.sip_port, request(method, to_tag="nope"))
    assert reply.status == 481


def test_unsupported_method_gets_405_with_allow(appliance):
    reply = udp_exchange(appliance.server.sip_port, request("MESSAGE"))
    assert reply.status == 405 and "OPTIONS" in reply.header("allow")


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00" * 100,
        b"INVITE sip:x SIP/2.0\r\n\r\n",  # no Via, Call-ID, CSeq...
        request("OPTIONS")[:60],  # truncated
        request("OPTIONS").replace(b"Content-Length: 0", b"Content-Length: 900"),  # wrong length
        b"OPTIONS sip:x SIP/2.0\r\nX: " + b"A" * 70000 + b"\r\n\r\n",  # huge header
    ],
)
def test_malformed_datagrams_are_dropped_and_service_goes_on(appliance, garbage):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(garbage[:65000], ("127.0.0.1", appliance.server.sip_port))
    assert udp_exchange(appliance.server.sip_port, request("OPTIONS")).status == 200


def test_tcp_stream_without_framing_is_closed_and_others_are_served(appliance):
    port = appliance.server.sip_port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request("OPTIONS").replace(b"Content-Length: 0\r\n", b""))
        assert s.recv(100) == b""  # closed: no Content-Length means framing is lost
    assert tcp_exchange(port, request("OPTIONS"))[0].status == 200


def test_a_taken_sip_port_stops_the_start_with_a_clear_error():
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    server = ApplianceServer()
    server.env["RECORDER_SIP_PORT"] = str(blocker.getsockname()[1])
    try:
        result = subprocess.run([*COMMAND, "capture"], env=server.env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode != 0
        assert "address already in use" in (result.stdout + result.stderr).lower()
    finally:
        blocker.close()



def _siprec_invite(sdp: bytes, metadata: bytes | None = b"") -> bytes:
    parts = b"--b\r\nContent-Type: application/sdp\r\n\r\n" + sdp
    if metadata is not None:
        parts += b"\r\n--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n" + metadata
    return request("INVITE", body=parts + b"\r\n--b--\r\n", content_type="multipart/mixed;boundary=b",
                   extra="Require: siprec\r\n")


def _final(port: int, data: bytes) -> list:
    """Every answer to one INVITE over TCP, 100 Trying included, up to the final one."""
    replies: list = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        buffer = b""
        from appliance.capture.sip.message import frame_length, parse

        while not replies or replies[-1].status < 200:
            buffer += s.recv(65536)
            while (n := frame_length(buffer)) is not None:
                replies.append(parse(buffer[:n]))
                buffer = buffer[n:]
    return replies


def test_a_siprec_offer_with_no_codec_we_record_is_refused_clearly(appliance):
    sdp = (b"v=0\r\nc=IN IP4 198.51.100.7\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\na=label:1\r\n"
           b"m=audio 4002 RTP/AVP 9\r\na=label:2\r\n")
    reply = _final(appliance.server.sip_port, _siprec_invite(sdp))[-1]
    assert reply.status == 488 and "PCMU, PCMA" in reply.header("warning")


def test_a_siprec_offer_without_sdp_is_refused_clearly(appliance):
    data = request("INVITE", body=b"<recording/>", content_type="application/rs-metadata+xml",
                   extra="Require: siprec\r\n")
    reply = _final(appliance.server.sip_port, data)[-1]
    assert reply.status == 488 and "no SDP" in reply.header("warning")


def test_a_siprec_session_from_an_unknown_source_is_forbidden(appliance):
    """The shared appliance knows no push device at 127.0.0.1: REJECT, the default, says 403."""
    sdp = b"v=0\r\nc=IN IP4 198.51.100.7\r\nm=audio 4000 RTP/AVP 0\r\na=label:1\r\n"
    replies = _final(appliance.server.sip_port, _siprec_invite(sdp, b"<not xml"))
    assert [r.status for r in replies] == [100, 403]
    assert "not a push device" in replies[-1].header("warning")
