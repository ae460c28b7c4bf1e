"""Takeover, handover and failback between two real appliances on 127.0.0.1 (the
SRS-list way: the SRC tries the primary, then on 503 or silence the standby). What the
administrators rely on: the standby turns calls and changes away while the primary lives;
after `kill -9` of the primary it records within the takeover time and raises TAKEOVER;
the old primary comes back as standby and hands over what it recorded alone; "make
primary" moves the role back; every call is a recording on the primary, none twice."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Appliance, on_database
from tests.integration.test_ha_sync import (
    SECRET,
    UPDATE,
    callees,
    ha,
    pair_address,
    signed_in,
    status,
    wait_for,
)
from tests.support import sipp
from tests.support.audio import tone_pcm, wav_bytes
from tests.support.server import ApplianceServer, Client
from tests.support.siprec_client import SiprecCall, send_tones

# Takeover within its time + a few seconds is a delay: not beside another test process.
pytestmark = pytest.mark.alone
TAKEOVER = 3
CALLS = """query { recordings(pageSize: 100, filter: {}) { total items { sn caller callee } } }"""
ALARMS = """query { alarms(filter: {event: TAKEOVER}) { total items { event state params } } }"""


def _id_of(client: Client, sn: str) -> str:
    found = client.data("query($s: String) { recordings(filter: {sn: $s}) { items { id sn } } }", {"s": sn})
    return next(r["id"] for r in found["recordings"]["items"] if r["sn"] == sn)


def call(server: ApplianceServer, callee: str) -> int:
    """One SIPREC call of a second of tone; the INVITE's final status."""
    c = SiprecCall(server.sip_port, sipp.offer_body(["1"], [sipp.Party("a", "7000", "1"), sipp.Party("b", callee, "1")]))
    try:
        answer = c.invite()
        if answer.status != 200:
            return answer.status
        c.ack()
        send_tones([c], 1.0)
        assert c.bye() == 200
        return 200
    finally:
        c.close()




@pytest.fixture(params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Appliance, Appliance]]:
    servers = [ApplianceServer(**on_database(request)).start() for _ in range(2)]
    try:
        primary, standby = (Appliance(s) for s in servers)
        made = primary.admin.data(
            'mutation { createDevice(input: {alias: "sbc", address: "127.0.0.1", secret: "sbc-secret-1", '
            "mode: PUSH}) { __typename } }"
        )["createDevice"]
        assert made["__typename"] == "Device"
        ha(standby, role="STANDBY", peerAddress=pair_address(primary), pairingSecret=SECRET,
           periodSeconds=1, takeoverSeconds=TAKEOVER)  # fmt: skip
        ha(primary, role="PRIMARY", peerAddress=pair_address(standby), pairingSecret=SECRET,
           periodSeconds=1, takeoverSeconds=TAKEOVER)  # fmt: skip
        wait_for("paired", lambda: status(primary.admin)["paired"])
        # The first round brings the primary's users: the standby's own sessions end then.
        wait_for("the first sync", lambda: status(primary.admin)["lastSyncAt"])
        yield primary, standby
    finally:
        for s in servers:
            if s.proc is not None and s.proc.poll() is None:
                os.kill(s.proc.pid, signal.SIGCONT)
            s.stop()


def test_the_standby_turns_away_calls_uploads_and_changes_while_the_primary_lives(pair):
    _, standby = pair
    standby.server.wait_capture_knows(host="127.0.0.1")  # the device arrived with the configuration
    assert call(standby.server, "8001") == 503
    r = standby.upload(wav_bytes(tone_pcm(1.0), 8000))
    assert r.status_code == 503 and r.headers["Retry-After"]
    admin = signed_in(standby.server)
    refused = admin.gql("mutation { updateSettings(input: {logRetentionDays: 30}) { __typename } }")
    assert refused["errors"][0]["extensions"]["code"] == "STANDBY_READ_ONLY", refused
    # Reading stays possible, and so do the pair's own settings.
    assert admin.data(CALLS)["recordings"]["total"] == 0
    assert admin.data(UPDATE, {"i": {"periodSeconds": 1}})["updateHaSettings"]["__typename"] == "HaStatus"


def test_takeover_handover_and_failback_lose_no_call(pair):
    primary, standby = pair
    standby.server.wait_capture_knows(host="127.0.0.1")
    primary.server.wait_capture_knows(host="127.0.0.1")
    assert call(primary.server, "8001") == 200
    watcher = signed_in(standby.server)
    wait_for("the first call on the standby", lambda: callees(watcher) == ["8001"])

    # The standby is cut off for a while (stopped): the primary records two calls alone,
    # then dies with them not yet synced.
    assert standby.server.proc is not None and primary.server.proc is not None
    os.kill(standby.server.proc.pid, signal.SIGSTOP)
    assert call(primary.server, "8002") == 200
    assert call(primary.server, "8003") == 200
    wait_for("both stored on the primary", lambda: callees(primary.admin) == ["8001", "8002", "8003"])
    primary.server.proc.kill()  # kill -9
    primary.server.proc.wait()
    killed_at = time.monotonic()
    os.kill(standby.server.proc.pid, signal.SIGCONT)

    # The SRC tries the standby: it answers once it took over.
    def recorded_there() -> bool:
        return call(standby.server, "8004") == 200

    wait_for("a call taken by the standby", recorded_there, TAKEOVER + 20)
    took = time.monotonic() - killed_at
    assert took < TAKEOVER + 5 + 3, took  # + the stopped process's own catching up
    new_primary = signed_in(standby.server)
    assert status(new_primary)["role"] == "PRIMARY"
    alarms = new_primary.data(ALARMS)["alarms"]
    assert alarms["total"] == 1 and alarms["items"][0]["state"] == "ACTIVE"
    # Its console is writable now, and uploads are taken.
    # (with the primary's device: devices are configuration, the standby holds the same)
    assert standby.upload(wav_bytes(tone_pcm(1.0), 8000), device=primary.device, callee="8005").status_code == 201

    # The old primary comes back: it finds a newer primary, becomes its standby and hands
    # over the calls it recorded alone.
    primary.server.start()
    old = signed_in(primary.server)
    wait_for("the old primary steps down", lambda: status(old)["role"] == "STANDBY")
    wait_for(
        "every call on the new primary",
        lambda: callees(new_primary) == ["8001", "8002", "8003", "8004", "8005"],
        30,
    )
    everything = new_primary.data(CALLS)["recordings"]["items"]
    assert sorted(r["callee"] for r in everything) == ["8001", "8002", "8003", "8004", "8005"]
    assert len({r["sn"] for r in everything}) == len(everything)
    # And what the new primary recorded reaches the old one, now its standby.
    wait_for("the old primary has them too", lambda: callees(old) == ["8001", "8002", "8003", "8004", "8005"])

    # Failback, by the administrator: the old primary is made primary again. A deletion
    # made on the current primary just before, long before its next period, is not lost:
    # the primary sends everything it has before it steps down.
    assert new_primary.data(UPDATE, {"i": {"periodSeconds": 3600}})["updateHaSettings"]["__typename"] == "HaStatus"
    time.sleep(2)  # a round already under way ends
    gone = next(r for r in new_primary.data(CALLS)["recordings"]["items"] if r["callee"] == "8005")
    deleted = new_primary.data("mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { __typename } }",
                               {"ids": [_id_of(new_primary, gone["sn"])]})  # fmt: skip
    assert "errors" not in deleted
    moved = old.data("mutation { makePrimary { role epoch } }")["makePrimary"]
    assert moved["role"] == "PRIMARY"
    assert "8005" not in callees(old)  # drained before the switch
    wait_for("the other steps down", lambda: status(new_primary)["role"] == "STANDBY")
    wait_for("the old primary takes calls again", lambda: call(primary.server, "8006") == 200, 15)
    assert call(standby.server, "8007") == 503
    wait_for("the failback's call on the standby", lambda: "8006" in callees(new_primary))
    final = callees(old)
    assert final == ["8001", "8002", "8003", "8004", "8006"], final
    assert httpx.get(primary.server.url + "/health").status_code == 200
