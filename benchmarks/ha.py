#!/usr/bin/env python3
"""Primary and standby: how fast a backlog reaches a new standby, and how long a takeover
takes, with two real appliances on 127.0.0.1.

1. --recordings recordings (MP3 of --seconds, encrypted: the defaults) are seeded into the
   primary's store, database and event log as ingest leaves them; a standby is paired and
   the clock runs until the primary reports no lag: recordings/s, MB/s of files, and both
   processes' CPU per recording.
2. The primary is killed (-9); a SIPREC client calls the standby every half second until
   one call is answered 200: the time from the kill (target < 20 s at the default
   takeover time of 15 s).

    python benchmarks/ha.py [--recordings 10000] [--seconds 30] [--takeover 15]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import machine, process_cpu  # noqa: E402

SECRET = "benchmark pairing secret 2026"
UPDATE = """mutation($i: HaSettingsInput!) { updateHaSettings(input: $i) { __typename } }"""
STATUS = "{ haStatus { paired lastSyncAt lagRecordings role } }"


def seed(env: dict[str, str], count: int, mp3: bytes) -> int:
    """count recordings in the store, the database and the event log; their bytes on disk."""
    from pony.orm import db_session

    from appliance.config import load_config
    from appliance.db.entities import Recording
    from appliance.domain.events import EventKind
    from appliance.services import events
    from appliance.services.context import SYSTEM, AppContext

    ctx = AppContext.open(load_config(env))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    size = 0
    for first in range(0, count, 500):
        with db_session:
            for n in range(first, min(first + 500, count)):
                when = start + timedelta(minutes=n)
                stored = ctx.store.put(mp3, when, "mp3", encrypted=True)
                size += stored.disk_size
                r = Recording(
                    sn=f"{when:%Y%m%d_%H%M%S}_{n:06d}", device_id=None, call_id=f"bench-{n}", kind="call",
                    direction="in", caller=f"138{n:08d}", callee="2002", started_at=when, duration=30,
                    duration_ms=30_000, play_count=0, tag_count=0, file_format="MP3", relpath=stored.relpath,
                    disk_size=stored.disk_size, plain_size=stored.plain_size, sha256=stored.sha256,
                    encrypted=True, source="upload", created_at=datetime.now(UTC),
                )
                r.flush()
                events.record(EventKind.RECORDING_STORED, SYSTEM, id=r.id, sn=r.sn)
    return size


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--takeover", type=int, default=15)
    args = ap.parse_args()
    import lameenc

    from tests.support import sipp
    from tests.support.audio import tone_pcm
    from tests.support.server import ADMIN_PASSWORD, ApplianceServer, Client, prepare_admin
    from tests.support.siprec_client import SiprecCall

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(16)
    encoder.set_in_sample_rate(8000)
    encoder.set_channels(1)
    mp3 = bytes(encoder.encode(tone_pcm(args.seconds, 8000)) + encoder.flush())

    primary, standby = ApplianceServer(), ApplianceServer()
    rows: list[tuple[str, str]] = []
    try:
        for server in (primary, standby):
            server.start()
        p_admin, _ = prepare_admin(primary)
        s_admin, _ = prepare_admin(standby)
        made = p_admin.data('mutation { createDevice(input: {alias: "sbc", address: "127.0.0.1", '
                            'secret: "sbc-secret-1", mode: PUSH}) { __typename } }')  # fmt: skip
        assert made["createDevice"]["__typename"] == "Device", made
        began = time.monotonic()
        size = seed(primary.env, args.recordings, mp3)
        print(f"seeded {args.recordings} recordings ({size / 1e6:.0f} MB) in {time.monotonic() - began:.0f} s", flush=True)

        procs = [psutil.Process(s.proc.pid) for s in (primary, standby)]  # type: ignore[union-attr]
        used = [process_cpu(p) for p in procs]
        s_admin.data(UPDATE, {"i": {"role": "STANDBY", "peerAddress": f"127.0.0.1:{primary.ha_port}",
                                    "pairingSecret": SECRET, "periodSeconds": 1, "takeoverSeconds": args.takeover}})
        began = time.monotonic()
        p_admin.data(UPDATE, {"i": {"role": "PRIMARY", "peerAddress": f"127.0.0.1:{standby.ha_port}",
                                    "pairingSecret": SECRET, "periodSeconds": 1, "takeoverSeconds": args.takeover}})
        while True:
            seen = p_admin.data(STATUS)["haStatus"]
            if seen["paired"] and seen["lastSyncAt"] and seen["lagRecordings"] == 0:
                break
            time.sleep(0.2)
        wall = time.monotonic() - began
        cpu = [process_cpu(p) - u for p, u in zip(procs, used, strict=True)]
        watcher = Client(standby.url)
        watcher.login("admin", ADMIN_PASSWORD)
        total = watcher.data("{ recordings(filter: {}) { total } }")["recordings"]["total"]
        assert total == args.recordings, total
        rows.append((f"{args.recordings} recordings ({size / 1e6:.0f} MB) from pairing to no lag",
                     f"{wall:.1f} s · {args.recordings / wall:.0f} recordings/s · {size / wall / 1e6:.1f} MB/s"))
        rows.append(("CPU per recording: primary, standby",
                     f"{1000 * cpu[0] / args.recordings:.2f} ms, {1000 * cpu[1] / args.recordings:.2f} ms"))
        print(rows[-2], rows[-1], flush=True)

        standby.wait_capture_knows(host="127.0.0.1")
        assert primary.proc is not None
        primary.proc.kill()
        primary.proc.wait()
        killed = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            body = sipp.offer_body(["1"], [sipp.Party("a", "7000", "1"), sipp.Party("b", "8000", "1")])
            call = SiprecCall(standby.sip_port, body, call_id=uuid.uuid4().hex)
            try:
                answer = call.invite(timeout=2)
                if answer.status == 200:
                    call.ack()
                    call.bye()
                    break
            except TimeoutError:
                pass
            finally:
                call.close()
            if time.monotonic() - killed > 120:
                raise SystemExit("no takeover within 120 s")
            time.sleep(0.5)
        took = time.monotonic() - killed
        rows.append((f"takeover: primary killed → first new call answered by the standby (takeover time {args.takeover} s)",
                     f"{took:.1f} s ({attempts} attempts)"))
        print(rows[-1], flush=True)
    finally:
        primary.stop()
        standby.stop()
    print()
    print(f"Primary and standby on 127.0.0.1: {args.recordings} MP3 recordings of {args.seconds:.0f} s "
          f"({len(mp3) / 1000:.0f} kB each), encrypted, SQLite on both")  # fmt: skip
    print(f"machine: {machine()}")
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
