#!/usr/bin/env python3
"""The monitor's cost and promptness.

1. Cost: `recorder monitor` runs as its own process (as its systemd unit does), sampling
   every 10 s (the default), beside an appliance that is idle, then holding --calls SIPREC
   sessions (their sockets are what the kernel-drop count walks). Its CPU over --seconds,
   as % of one core (target < 1 %).
2. Latency: a threshold crossed (memory usage above a threshold of 1 %), then cleared
   (threshold 100 %), --cycles times; for each raise and clear, the time from the sample
   that crossed (the alarm's raisedAt / clearedAt) to the notification's line in net-snmp's
   snmptrapd log (v2c trap; target < 1 s).

    python benchmarks/monitor.py [--seconds 120] [--calls 1000] [--cycles 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import capture_load  # noqa: E402
from machine_info import machine  # noqa: E402

RULE = "mutation($i: AlarmEventInput!) { updateAlarmEvent(input: $i) { __typename } }"


def cpu_of(proc: psutil.Process, seconds: float) -> float:
    """% of one core the process used over the next `seconds`."""
    before = sum(proc.cpu_times()[:2])
    time.sleep(seconds)
    return 100 * (sum(proc.cpu_times()[:2]) - before) / seconds


def arrived(receiver, needle: str, before: int) -> bool:
    """Whether snmptrapd has logged more notifications of this kind than `before`."""
    return receiver.text().count(needle) > before


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--cycles", type=int, default=10)
    args = ap.parse_args()
    from tests.support.server import ApplianceServer, Client, prepare_admin
    from tests.support.snmp import COMMUNITY, TrapReceiver

    server = ApplianceServer(monitor=False)
    server.services = ["all", "--without", "scheduler", "--without", "monitor"]
    server.start()
    rows: list[tuple[str, str]] = []
    try:
        admin, token = prepare_admin(server)
        admin.data(
            "mutation($i: SettingsInput!) { updateSettings(input: $i) { __typename } }",
            {"i": {"rtpPortMin": capture_load.RTP_LOW, "rtpPortMax": capture_load.RTP_HIGH, "rtpTimeoutSeconds": 3600}},
        )
        admin.data('mutation { createDevice(input: {alias: "pbx", address: "127.0.0.1", secret: "bench-secret", '
                   "mode: PUSH}) { __typename } }")
        server.wait_capture_knows(host="127.0.0.1", rtp_timeout_seconds="3600")
        monitor = server.beside("monitor")
        proc = psutil.Process(monitor.pid)
        time.sleep(15)  # started, first samples taken
        idle = cpu_of(proc, args.seconds)
        rows.append(("monitor CPU, appliance idle (% of a core)", f"{idle:.2f}"))
        print(rows[-1], flush=True)
        calls, _ = asyncio.run(capture_load.set_up(args.calls, server.sip_port))
        busy = cpu_of(proc, args.seconds)
        rows.append((f"monitor CPU, {args.calls} calls held (% of a core)", f"{busy:.2f}"))
        print(rows[-1], flush=True)
        asyncio.run(capture_load.tear_down(calls, server.sip_port))

        client = Client(server.url, token=token)
        engine = client.data("{ alarmSettings { engineId } }")["alarmSettings"]["engineId"]
        receiver = TrapReceiver(engine, v3=False).start()
        try:
            client.data("mutation($r: [SnmpReceiverInput!]!) { setSnmpReceivers(receivers: $r) { __typename } }",
                        {"r": [{"host": "127.0.0.1", "port": receiver.port, "version": "V2C", "community": COMMUNITY}]})
            time.sleep(2)
            raise_ms: list[float] = []
            clear_ms: list[float] = []
            rule = {"event": "MEMORY_HIGH", "onScreen": True, "email": False, "level": "LOW"}
            for _ in range(args.cycles):
                for threshold, kind, into in ((1, "recorderAlarmRaised", raise_ms), (100, "recorderAlarmCleared", clear_ms)):
                    before = receiver.text().count(kind)
                    client.data(RULE, {"i": {**rule, "threshold": threshold}})
                    deadline = time.time() + 30
                    while not arrived(receiver, kind, before):
                        assert time.time() < deadline, receiver.text()[-2000:]
                        time.sleep(0.005)
                    seen_at = time.time()
                    newest = client.data('{ alarms(filter: {event: MEMORY_HIGH}, pageSize: 1) { items { raisedAt clearedAt } } }')
                    item = newest["alarms"]["items"][0]
                    crossed = datetime.fromisoformat(item["clearedAt" if threshold == 100 else "raisedAt"]).timestamp()
                    into.append(1000 * (seen_at - crossed))
            for name, values in (("raise", raise_ms), ("clear", clear_ms)):
                rows.append((f"sample to trap in snmptrapd's log, {name}: median / max (ms)",
                             f"{statistics.median(values):.0f} / {max(values):.0f}"))
                print(rows[-1], flush=True)
        finally:
            receiver.stop()
        from tests.support.processes import stop_process

        stop_process(monitor)
    finally:
        server.stop()
    print()
    print(f"Monitor: sampling every 10 s, {args.seconds:.0f} s per CPU figure, {args.cycles} raise/clear cycles")
    print(f"machine: {machine()}")
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
