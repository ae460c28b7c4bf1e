"""SIP parsing: tolerant of real senders, strict where a wrong guess would lose a call."""

from __future__ import annotations

import pytest

from appliance.capture.sip.message import (
    MAX_MESSAGE_BYTES,
    SipParseError,
    SipRequest,
    SipResponse,
    frame_length,
    parse,
)
from appliance.capture.sip.responses import build

OPTIONS = (
    b"OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-0\r\n"
    b"f: <sip:src@192.0.2.10>;tag=abc\r\n"
    b"t: <sip:srs@127.0.0.1>\r\n"
    b"i: call-1@192.0.2.10\r\n"
    b"CSeq: 7 OPTIONS\r\n"
    b"Subject: a long\r\n   folded header\r\n"
    b"l: 0\r\n\r\n"
)


def test_request_with_compact_and_folded_headers():
    msg = parse(OPTIONS)
    assert isinstance(msg, SipRequest)
    assert (msg.method, msg.uri) == ("OPTIONS", "sip:srs@127.0.0.1")
    assert msg.call_id == "call-1@192.0.2.10"
    assert msg.cseq == (7, "OPTIONS")
    assert len(msg.all("via")) == 2
    assert msg.header("subject") == "a long folded header"


def test_bare_lf_line_endings_are_accepted():
    msg = parse(OPTIONS.replace(b"\r\n", b"\n"))
    assert msg.call_id == "call-1@192.0.2.10"


def test_body_is_cut_at_content_length():
    data = OPTIONS.replace(b"l: 0", b"Content-Length: 5") + b"hello trailing"
    assert parse(data).body == b"hello"


def test_response_start_line():
    msg = parse(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nFrom: <sip:a@b>;tag=1\r\n"
                b"To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(msg, SipResponse) and msg.status == 180


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no blank line"),
        (b"\x00\xff garbage\r\n\r\n", "not a SIP start line"),
        (OPTIONS.replace(b"CSeq: 7 OPTIONS\r\n", b""), "missing cseq"),
        (OPTIONS.replace(b"CSeq: 7 OPTIONS", b"CSeq: seven OPTIONS"), "bad CSeq"),
        (OPTIONS.replace(b"l: 0", b"l: 50"), "Content-Length says 50"),
        (OPTIONS.replace(b"l: 0", b"l: -1"), "bad Content-Length"),
        (OPTIONS.replace(b"CSeq", b": 7 OPTIONS\r\nCSeq"), "header line without a name"),
        (OPTIONS[:-4] + b"\r\nX: " + b"a" * MAX_MESSAGE_BYTES + b"\r\n\r\n", "exceeds"),
        (OPTIONS[:-4] + b"\r\n" + b"X-H: 1\r\n" * 300 + b"\r\n", "more than 200 headers"),
    ],
)
def test_malformed_messages_are_refused_with_the_reason(data, reason):
    with pytest.raises(SipParseError, match=reason):
        parse(data)


def test_tcp_framing_waits_for_the_whole_message_and_splits_pipelined_ones():
    two = OPTIONS.replace(b"l: 0", b"l: 3") + b"abc"
    stream = b"\r\n\r\n" + two + two  # keep-alive CRLFs first
    first = frame_length(stream)
    assert first == 4 + len(two)
    assert frame_length(stream[:first - 1]) is None
    assert frame_length(stream[first:]) == len(two)


def test_tcp_framing_needs_content_length_and_bounded_headers():
    with pytest.raises(SipParseError, match="Content-Length"):
        frame_length(OPTIONS.replace(b"l: 0\r\n", b""))
    with pytest.raises(SipParseError, match="size limit"):
        frame_length(b"OPTIONS sip:x SIP/2.0\r\nX: " + b"a" * (MAX_MESSAGE_BYTES + 1))


def test_response_goes_back_with_received_and_rport():
    reply = parse(build(parse(OPTIONS), 200, "OK", ("127.0.0.1", 40000), to_tag="t1"))
    assert isinstance(reply, SipResponse)
    top, second = reply.all("via")
    assert top == "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport=40000;received=127.0.0.1"
    assert second == "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-0"
    assert reply.header("to") == "<sip:srs@127.0.0.1>;tag=t1"
    assert reply.cseq == (7, "OPTIONS")
