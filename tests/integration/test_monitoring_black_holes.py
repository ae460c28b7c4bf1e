"""An SMTP server that never answers and trap receivers that never acknowledge delay nothing
else: 300 calls are recorded whole while alarms keep trying to reach both."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.server import ApplianceServer, Client, prepare_admin

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import capture_load

# CPU alarms and delays are measured: not beside another test process.
pytestmark = pytest.mark.alone

CALLS, SECONDS = 300, 10


def test_black_holed_notifications_delay_no_call(tmp_path):
    # Accepts TCP connections in its backlog and never says a word: the SMTP client waits
    # for a banner that never comes. Reads no datagram: informs are never acknowledged.
    smtp_hole = socket.socket()
    smtp_hole.bind(("127.0.0.1", 0))
    smtp_hole.listen(100)
    trap_hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    trap_hole.bind(("127.0.0.1", 0))
    server = ApplianceServer(monitor=True, env={"RECORDER_MONITOR_SECONDS": "1"}).start()
    try:
        admin, token = prepare_admin(server)
        hole = trap_hole.getsockname()[1]
        for query, variables in (
            ("mutation($i: MailSettingsInput!) { updateMailSettings(input: $i) { __typename } }",
             {"i": {"host": "127.0.0.1", "port": smtp_hole.getsockname()[1], "security": "STARTTLS",
                    "sender": "recorder@example.com", "username": "a", "password": "b"}}),
            ("mutation($r: [SnmpReceiverInput!]!) { setSnmpReceivers(receivers: $r) { __typename } }",
             {"r": [{"host": "127.0.0.1", "port": hole, "version": "V2C", "community": "c", "notify": "INFORM"},
                    {"host": "127.0.0.1", "port": hole, "version": "V3", "user": "noc", "authKey": "auth-key-1",
                     "privKey": "priv-key-1", "notify": "INFORM"}]}),
            ("mutation($i: AlarmEventInput!) { updateAlarmEvent(input: $i) { __typename } }",
             {"i": {"event": "MEMORY_HIGH", "onScreen": True, "email": True, "level": "HIGH", "threshold": 1,
                    "recipients": ["noc@example.com"]}}),
            ("mutation($i: AlarmEventInput!) { updateAlarmEvent(input: $i) { __typename } }",
             {"i": {"event": "BACKUP_FAILED", "onScreen": True, "email": True, "level": "HIGH",
                    "recipients": ["noc@example.com"]}}),
            ("mutation($i: SettingsInput!) { updateSettings(input: $i) { __typename } }",
             {"i": {"fileFormat": "WAV", "channelMode": "STEREO", "rtpPortMin": capture_load.RTP_LOW,
                    "rtpPortMax": capture_load.RTP_HIGH}}),
            ('mutation { createDevice(input: {alias: "pbx", address: "127.0.0.1", secret: "hole-secret", '
             "mode: PUSH}) { __typename } }", {}),
        ):
            result = admin.data(query, variables)
            assert next(iter(result.values()))["__typename"] != "UserError", result
        server.wait_capture_knows(host="127.0.0.1")
        client = Client(server.url, token=token)
        # The memory alarm is raised now; its mail and informs start their long waits.
        deadline = time.monotonic() + 20
        while not client.data('{ alarms(filter: {event: MEMORY_HIGH}) { total } }')["alarms"]["total"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)

        calls, _ = asyncio.run(capture_load.set_up(CALLS, server.sip_port))
        ports = tmp_path / "ports.json"
        ports.write_text(json.dumps([c[2] for c in calls]))
        out = tmp_path / "sent.json"
        sender = subprocess.Popen([sys.executable, capture_load.__file__, "--send", str(ports),
                                   "--seconds", str(SECONDS), "--out", str(out)])
        # More alarms to notify while the calls run: each waits on both holes.
        for _ in range(3):
            server.cli("admin", "alarm", "raise", "BACKUP_FAILED", "--error", "drill")
            server.cli("admin", "alarm", "clear", "BACKUP_FAILED")
        answered = client.data("{ systemMetrics { activeCalls } }")["systemMetrics"]["activeCalls"]
        assert sender.wait(timeout=120) == 0
        assert answered == CALLS
        time.sleep(0.3)
        asyncio.run(capture_load.tear_down(calls, server.sip_port))
        deadline = time.monotonic() + 120
        while client.data("{ recordings { total } }")["recordings"]["total"] < CALLS:
            assert time.monotonic() < deadline, "not every call was stored"
            time.sleep(0.5)
        items = client.data("{ recordings(pageSize: 200) { items { id } } }")["recordings"]["items"]
        items += client.data("{ recordings(page: 2, pageSize: 200) { items { id } } }")["recordings"]["items"]
        assert len(items) == CALLS
        whole = 0
        for item in items:
            wav = client.http.get(f"/api/v1/recordings/{item['id']}/audio").content
            _, complete, gap_free = capture_load.judge(wav, int(SECONDS * 50))
            whole += complete and gap_free
        assert whole == CALLS
        # And the notifications are still trying, not lost: the list says so.
        delivery = client.data('{ alarms(filter: {event: MEMORY_HIGH}) { items { delivery } } }')["alarms"]["items"][0]["delivery"]
        assert delivery and all(v.startswith("failed") for v in delivery.values()), delivery
        assert set(delivery) == {"mail", f"snmp 127.0.0.1:{hole}"}, delivery
    finally:
        server.stop()
        smtp_hole.close()
        trap_hole.close()
