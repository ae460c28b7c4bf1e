"""INVITEs answered but never ACKed (issue 11, defect 15): a session never confirmed and
with no media stores nothing and is counted; one that got media is recorded all the same."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from appliance.capture.sip.message import SipResponse, frame_length, parse
from tests.integration.test_capture_db_outage import prepared
from tests.integration.test_siprec_calls import channels
from tests.support import sipp
from tests.support.server import ApplianceServer, Client
from tests.support.siprec_client import SiprecCall, invite_all, send_tones

ACK_TIMEOUT = 32  # RFC 3261 Timer H, 64 x T1
BURST = 50


@pytest.fixture()
def recorder() -> Iterator[tuple[ApplianceServer, Client]]:
    server = ApplianceServer().start()
    try:
        api = prepared(server)
        # The call with media stays silent past Timer H: the silence limit must not end it.
        admin = Client(server.url, token=api.http.headers["Authorization"].split()[1])
        changed = admin.data("mutation { updateSettings(input: {rtpTimeoutSeconds: 300}) { __typename } }")
        assert changed["updateSettings"]["__typename"] == "Settings"
        server.wait_capture_knows(host="127.0.0.1", rtp_timeout_seconds="300")
        yield server, api
    finally:
        server.stop()


def offer(n: int) -> str:
    return sipp.offer_body(["1"], [sipp.Party("a", "7000", "1"), sipp.Party("b", f"9{n:03d}", "1")])


def test_unacked_invites_store_nothing_unless_media_came(recorder):
    server, api = recorder
    port = server.sip_port
    # One lone INVITE, a burst of BURST (as a flood from a registered address would), and
    # one un-ACKed call that does send its audio.
    lone = SiprecCall(port, offer(0))
    burst = [SiprecCall(port, offer(n + 1)) for n in range(BURST)]
    with_media = SiprecCall(port, offer(999))
    invite_all([lone, *burst, with_media])
    assert [c.answer.status for c in [lone, *burst, with_media]] == [200] * (BURST + 2)
    # And one over TCP: no retransmissions there, the same timeout for the ACK.
    over_tcp = socket.create_connection(("127.0.0.1", port), timeout=10)
    over_tcp.sendall(SiprecCall(port, offer(500)).invite_bytes())
    assert tcp_answer(over_tcp).status == 200
    answered = time.monotonic()
    spooled = [p for p in (server.data_dir / "spool").iterdir() if p.is_dir()]
    assert len(spooled) == BURST + 3, "every answered call has its spool folder"
    send_tones([with_media], 2.0)

    time.sleep(max(0.0, answered + ACK_TIMEOUT + 4 - time.monotonic()))
    assert api.data("{ recordings { total } }")["recordings"]["total"] == 0, "nothing stored yet"
    left = [p.name for p in (server.data_dir / "spool").iterdir() if p.is_dir()]
    assert len(left) == 1, f"only the call with media is kept, not {len(left)} folders"
    live = api.data("{ activeCalls { callee } }")["activeCalls"]
    assert [c["callee"] for c in live] == ["9999"], "the junk sessions' rows are gone"

    assert with_media.bye() == 200, "the call with media is still in progress"
    deadline = time.monotonic() + 20
    while api.data("{ recordings { total } }")["recordings"]["total"] < 1:
        assert time.monotonic() < deadline, "the call with media was not recorded"
        time.sleep(0.3)
    item = api.data("{ recordings { total items { id callee } } }")["recordings"]
    assert item["total"] == 1 and item["items"][0]["callee"] == "9999"
    wav = api.http.get(f"/api/v1/recordings/{item['items'][0]['id']}/audio?format=wav").content
    assert abs(len(channels(wav)[0]) - 2 * 8000) <= 160
    assert api.data("{ activeCalls { id } }")["activeCalls"] == []

    server.stop()
    log = (server.root / "server.log").read_text()
    assert f"{BURST + 2} never confirmed (no ACK, no media)" in log
    for call in [lone, *burst, with_media]:
        call.close()
    over_tcp.close()


def tcp_answer(sock: socket.socket) -> SipResponse:
    """The final answer to the INVITE on a TCP connection (100 Trying skipped)."""
    buffer = b""
    while True:
        while (n := frame_length(buffer)) is not None:
            message, buffer = parse(buffer[:n]), buffer[n:]
            if isinstance(message, SipResponse) and message.status >= 200:
                return message
        chunk = sock.recv(65536)
        assert chunk, "the connection closed before the answer"
        buffer += chunk


def test_one_address_cannot_hold_the_ports_with_sessions_it_never_confirms(recorder):
    """A flood of INVITEs never ACKed once held an RTP port pair each for 32 s, until real
    calls got 503: past 400 unconfirmed streams from one address (two hundred two-party
    calls), the next sessions are refused; one INVITE of 1,500 streams is refused at once."""
    server, _ = recorder
    port = server.sip_port
    huge = SiprecCall(port, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                      + "m=audio 40000 RTP/AVP 0\r\na=sendonly\r\n" * 1500)
    assert huge.invite().status == 488
    assert "at most 16" in (huge.answer.header("warning") or "")
    huge.close()
    two_party = sipp.offer_body(["1", "2"], [sipp.Party("a", "7000", "1"), sipp.Party("b", "9000", "2")])
    flood = [SiprecCall(port, two_party) for n in range(230)]
    invite_all(flood)
    statuses = [c.answer.status for c in flood]
    assert statuses.count(200) == 200 and statuses.count(503) == 30, statuses
    refused = next(c for c in flood if c.answer.status == 503)
    assert "not confirmed" in (refused.answer.header("warning") or "")
    # Once the address confirms its sessions, it gets new ones again.
    for call in flood:
        if call.answer.status == 200:
            call.ack()
    time.sleep(0.3)
    again = SiprecCall(port, offer(777))
    assert again.invite().status == 200
    again.ack()
    for call in [*flood, again]:
        if call.answer.status == 200:
            call.bye()
        call.close()
    log = (server.root / "server.log").read_text()
    assert log.count("refused a SIPREC session") <= 3, "the refusals are logged at a bounded rate"
