"""Primary and standby as they are deployed: two appliances in network namespaces of their
own on one LAN (veth pairs on a bridge), the session recording client in a third, a
witness (the gateway) in a fourth, keepalived holding a virtual IP in the appliances' two.
Nothing leaves the machine. Root only (namespaces); skipped elsewhere.

- 50 calls, the primary's process killed (-9) in the middle of them; new calls are
  recorded by the standby within the takeover time + 5 s; the old primary restarts, steps
  down and hands over the calls the kill cut; at the end every call is a recording on the
  new primary, none twice (SQLite). Both ways the sources follow: the virtual IP that
  keepalived moves, and the SRC's recorder list (the primary, then on 503 or silence the
  standby).
- Recordings with their bytes, a deletion, a setting and an employee reach the standby
  within a period (PostgreSQL; SQLite's pair does the same on 127.0.0.1, test_ha_sync.py).
- A standby cut off from both the primary and the witness does not take over; healed,
  there is still one primary. Cut off from the primary alone it takes over, and once the
  two meet again the older primary steps down (PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Appliance
from tests.integration.test_ha_sync import (
    SECRET,
    callees,
    ha,
    signed_in,
    status,
    synced_within_a_period,
    wait_for,
)
from tests.support import netns
from tests.support.postgres import PostgresServer
from tests.support.processes import stop_process
from tests.support.server import ApplianceServer

pytestmark = [
    pytest.mark.skipif(not netns.available(), reason="needs root and ip netns"),
    pytest.mark.alone,  # takeover within its time + 5 s is a delay: not beside another test process
]

TAKEOVER = 5
CALLS = 50
CALLER = Path(__file__).resolve().parents[1] / "support" / "ha_caller.py"
RECORDINGS = """query { recordings(pageSize: 200, filter: {}) { total items { sn callee } } }"""


class Site:
    """The LAN and what runs on it; everything is stopped by its PID at the end."""

    def __init__(self, database: str) -> None:
        self.lan = netns.Lan()
        self.a, self.b = self.lan.host("a", 1), self.lan.host("b", 2)
        self.src, self.gw = self.lan.host("src", 3), self.lan.host("gw", 253)
        self.vip = self.lan.address(100)
        self.work = Path(tempfile.mkdtemp(prefix="recorder-ha-lan-"))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.postgres: PostgresServer | None = None
        urls: list[str | None] = [None, None]
        if database == "postgres":
            self.postgres = PostgresServer(listen=f"127.0.0.1,{self.lan.address(254)}").start()
            urls = [self.postgres.create_database(), self.postgres.create_database()]
        self.servers = [ApplianceServer(host=h, database_url=u) for h, u in zip((self.a, self.b), urls, strict=True)]
        # One SIP port on both sides: the client sends to one address (the virtual IP) and
        # port whichever side holds it; the namespaces keep the two from clashing.
        for server in self.servers:
            server.sip_port = self.servers[0].sip_port
            server.env["RECORDER_SIP_PORT"] = str(server.sip_port)
            server.start()
        self.primary, self.standby = (Appliance(s) for s in self.servers)
        made = self.primary.admin.data(
            "mutation($a: String!) { createDevice(input: {alias: \"sbc\", address: $a, secret: \"sbc-secret-1\", "
            "mode: PUSH}) { __typename } }", {"a": self.src.address},
        )["createDevice"]  # fmt: skip
        assert made["__typename"] == "Device"

    def pair(self, witness: str = "") -> None:
        p, s = self.primary, self.standby
        ha(s, role="STANDBY", peerAddress=f"{self.a.address}:{p.server.ha_port}", pairingSecret=SECRET,
           periodSeconds=1, takeoverSeconds=TAKEOVER, witness=witness)  # fmt: skip
        ha(p, role="PRIMARY", peerAddress=f"{self.b.address}:{s.server.ha_port}", pairingSecret=SECRET,
           periodSeconds=1, takeoverSeconds=TAKEOVER, witness=witness)  # fmt: skip
        wait_for("paired", lambda: status(p.admin)["paired"])
        wait_for("the first sync", lambda: status(p.admin)["lastSyncAt"])
        for server in self.servers:
            server.wait_capture_knows(host=self.src.address)

    def keepalived(self, server: ApplianceServer, host: netns.Host, peer: netns.Host) -> None:
        folder = self.work / host.name
        folder.mkdir(mode=0o700)
        conf = folder / "keepalived.conf"
        server.cli("admin", "vrrp-config", "--interface", host.interface, "--vip", f"{self.vip}/24",
                   "--router-id", "61", "--peer", peer.address, "--source", host.address,
                   "--scripts", str(folder / "scripts"), "--output", str(conf))  # fmt: skip
        log = (folder / "keepalived.log").open("wb")
        self.processes.append(subprocess.Popen(
            host.command("keepalived", "--dont-fork", "--log-console", "--vrrp", "--use-file", str(conf),
                         "--pid", str(folder / "keepalived.pid"), "--vrrp_pid", str(folder / "vrrp.pid")),
            stdout=log, stderr=subprocess.STDOUT,
        ))  # fmt: skip

    def caller(self, mode: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        report = self.work / f"{mode}-{time.monotonic_ns()}.json"
        command = self.src.command(sys.executable, str(CALLER), mode, "--bind", self.src.address,
                                   "--port", str(self.servers[0].sip_port), "--report", str(report), *args)  # fmt: skip
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=(self.work / f"{mode}.err").open("wb"))
        self.processes.append(proc)
        return proc, report

    def close(self) -> None:
        for proc in self.processes:
            stop_process(proc)
        for server in self.servers:
            server.stop()
        if self.postgres is not None:
            self.postgres.stop()
        self.lan.close()


@pytest.fixture
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    made = Site(request.param)
    try:
        yield made
    finally:
        made.close()




def report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.mark.parametrize("site", ["sqlite"], indirect=True)
@pytest.mark.parametrize("way", ["virtual IP", "SRS list"])
def test_a_killed_primary_loses_no_call(site: Site, way: str):
    """The virtual IP: calls go to the one address keepalived moves. The SRS list: calls go
    to the primary, and on 503 or silence to the standby, as an SRC's recorder list does."""
    site.pair(witness=site.gw.address)
    watcher = signed_in(site.servers[1])
    if way == "virtual IP":
        site.keepalived(site.servers[0], site.a, site.b)
        site.keepalived(site.servers[1], site.b, site.a)
        wait_for("the primary holds the virtual IP", lambda: status(site.primary.admin)["vipState"] == "MASTER", 30)
        wait_for("the standby is its backup", lambda: status(watcher)["vipState"] == "BACKUP", 30)
        targets = ["--host", site.vip]
    else:
        targets = ["--host", site.a.address, "--host", site.b.address]

    answered = site.work / "answered.json"
    batch, batch_report = site.caller("batch", "--host", targets[1], "--calls", str(CALLS), "--first", "7000",
                                      "--seconds", "8", "--answered", str(answered))  # fmt: skip
    wait_for("every call answered", lambda: answered.exists(), 30)
    assert json.loads(answered.read_text()) == [200] * CALLS
    time.sleep(2)  # two seconds of every call are in the primary's spool
    proc = site.servers[0].proc
    assert proc is not None
    proc.kill()  # kill -9: the recorder's whole process (api, capture, failover: one process)
    proc.wait()
    killed_at = time.time()

    first, first_report = site.caller("until", *targets, "--first", "8000", "--within", "60")
    first.wait(timeout=90)
    taken = report(first_report)
    assert taken["answered_at"] is not None, taken
    took = taken["answered_at"] - killed_at
    assert took < TAKEOVER + 5, (took, taken["attempts"])
    print(f"\nthe standby answered a new call {took:.1f} s after the kill ({len(taken['attempts'])} attempts)")
    batch.wait(timeout=60)
    assert [c["invite"] for c in report(batch_report)["calls"]] == [200] * CALLS

    new_primary = signed_in(site.servers[1])
    assert status(new_primary)["role"] == "PRIMARY"
    if way == "virtual IP":
        wait_for("the virtual IP moved", lambda: status(new_primary)["vipState"] == "MASTER", 30)
    else:
        assert taken["host"] == site.b.address, taken

    # The old primary restarts: its spool's 50 cut calls are finalised, it steps down and
    # hands them over.
    site.servers[0].start()
    old = signed_in(site.servers[0])
    wait_for("the old primary steps down", lambda: status(old)["role"] == "STANDBY", 30)
    expected = sorted([str(7000 + n) for n in range(CALLS)] + ["8000"])
    wait_for("every call on the new primary, once", lambda: callees(new_primary) == expected, 90)
    items = new_primary.data(RECORDINGS)["recordings"]["items"]
    assert len({r["sn"] for r in items}) == len(items) == CALLS + 1
    wait_for("and on the old primary, its standby now", lambda: callees(old) == expected, 60)
    if way == "virtual IP":
        assert status(old)["vipState"] == "BACKUP"
    else:  # the old primary, first in the SRC's list, turns calls away to the new one
        again, again_report = site.caller("until", *targets, "--first", "8001", "--within", "30")
        again.wait(timeout=60)
        assert report(again_report)["host"] == site.b.address


@pytest.mark.parametrize("site", ["postgres"], indirect=True)
def test_an_isolated_standby_does_not_take_over_and_there_is_one_primary_after_healing(site: Site):
    site.pair(witness=site.gw.address)
    standby = signed_in(site.servers[1])
    # Cut off from the primary and from the witness: it is the isolated one.
    site.lan.cut(site.b, site.a)
    site.lan.cut(site.b, site.gw)
    time.sleep(TAKEOVER + 5)
    seen = status(standby)
    assert seen["role"] == "STANDBY", seen
    site.lan.heal(site.b, site.a)
    site.lan.heal(site.b, site.gw)
    wait_for("the primary heard again", lambda: status(standby)["peerReachable"], 15)
    assert (status(site.primary.admin)["role"], status(standby)["role"]) == ("PRIMARY", "STANDBY")

    # Cut off from the primary only (the witness answers): it takes over. When the two
    # meet again, the older primary steps down: one primary.
    site.lan.cut(site.b, site.a)
    wait_for("the standby takes over", lambda: status(standby)["role"] == "PRIMARY", TAKEOVER + 15)
    site.lan.heal(site.b, site.a)
    old = signed_in(site.servers[0])
    wait_for("the older primary steps down", lambda: status(old)["role"] == "STANDBY", 15)
    assert status(standby)["role"] == "PRIMARY"


@pytest.mark.parametrize("site", ["postgres"], indirect=True)  # SQLite's pair: test_ha_sync.py
def test_changes_reach_the_standby_across_the_lan(site: Site):
    site.pair(witness=site.gw.address)
    synced_within_a_period(site.primary, site.standby)
