"""SIPREC parties are cleaned and bounded at ingest as uploaded ones are (issue 11, defect 14):
CR/LF, quotes, '/' and 3,000-character parties, in the metadata or in From/To, never reach
the recording, its SN or the live-call row."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from appliance.domain.recordings import PARTY_RE
from tests.integration.test_capture_db_outage import prepared
from tests.support import sipp
from tests.support.server import ApplianceServer, Client
from tests.support.siprec_client import SiprecCall, send_tones

SN_RE = re.compile(r"^\d{8}_\d{6}_[A-Za-z0-9+*#]{1,64}(_\d+)?$")


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[ApplianceServer, Client]]:
    server = ApplianceServer().start()
    try:
        api = prepared(server)
        server.wait_capture_knows(host="127.0.0.1")
        yield server, api
    finally:
        server.stop()


def record(server: ApplianceServer, api: Client, call: SiprecCall) -> dict:
    before = api.data("{ recordings { total } }")["recordings"]["total"]
    assert call.invite().status == 200
    call.ack()
    live = api.data("{ activeCalls { caller callee } }")["activeCalls"]
    send_tones([call], 1.0)
    assert call.bye() == 200
    call.close()
    deadline = time.monotonic() + 20
    while api.data("{ recordings { total } }")["recordings"]["total"] <= before:
        assert time.monotonic() < deadline, "no recording came"
        time.sleep(0.3)
    item = api.data("{ recordings(pageSize: 1) { items { sn caller callee } } }")["recordings"]["items"][0]
    item["live"] = live
    return item


def assert_clean(item: dict) -> None:
    for party in (item["caller"], item["callee"]):
        assert PARTY_RE.match(party), repr(party)
    assert SN_RE.match(item["sn"]), item["sn"]
    for row in item["live"]:
        assert PARTY_RE.match(row["caller"]) and PARTY_RE.match(row["callee"]), row


def test_parties_in_the_metadata_are_cleaned_and_bounded(recorder):
    server, api = recorder
    # XML character references put CR/LF and quotes into the attribute values.
    caller = "+86&quot;10/12&#13;&#10;X-Evil: 1&apos;"
    callee = "3" * 3000
    body = sipp.offer_body(["1"], [sipp.Party("a", caller, "1"), sipp.Party("b", callee, "1")])
    item = record(server, api, SiprecCall(server.sip_port, body))
    assert_clean(item)
    assert item["caller"] == "+861012X-Evil:1"
    assert item["callee"] == "3" * 64
    assert len(item["sn"]) < 90


def test_parties_in_from_and_to_are_cleaned_and_bounded(recorder):
    server, api = recorder
    body = sipp.offer_body(["1"], None)  # no metadata: From and To name the parties
    call = SiprecCall(
        server.sip_port,
        body,
        from_='"Mallory \\"x\\"" <sip:20"0/1\'%0D%0A' + "7" * 3000 + "@evil.example>",
        to="<sip:" + "/" * 40 + "55\"66@127.0.0.1>",
    )
    item = record(server, api, call)
    assert_clean(item)
    assert item["caller"] == ("20010D0A" + "7" * 3000)[:64]
    assert item["callee"] == "5566"
