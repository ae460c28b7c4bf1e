#!/usr/bin/env python3
"""Backups: --recordings recordings of --seconds each (MP3, encrypted: the defaults) backed
up by the real appliance to a local folder, to pyftpdlib over FTP and to Samba's smbd over
SMB, all on 127.0.0.1; then imported by `recorder admin import-backup` on a new appliance.

For each target: recordings per second, MB/s (of backed-up bytes) and the appliance's CPU
per recording (its process, user + system); for the import: the same for the command.
The recordings are seeded straight into the appliance's store and database (encoding
10,000 calls through the upload API would measure the encoder, not the backup).

    python benchmarks/backup.py [--recordings 10000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import machine, process_cpu  # noqa: E402

PASSPHRASE = "benchmark passphrase 2026"
SET_TARGET = """mutation($i: BackupTargetInput!) { setBackupTarget(input: $i) {
  __typename ... on BackupTarget { id } ... on UserError { message } } }"""
BACKUP_NOW = "mutation($id: ID!) { backupNow(targetId: $id) { result recordings voicemails bytes error errorDetail } }"


def seed(env: dict[str, str], count: int, mp3: bytes) -> int:
    """count recordings in the appliance's store and database; their bytes."""
    from pony.orm import db_session

    from appliance.config import load_config
    from appliance.db.entities import Recording
    from appliance.services.context import AppContext

    ctx = AppContext.open(load_config(env))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for first in range(0, count, 500):
        with db_session:
            for n in range(first, min(first + 500, count)):
                when = start + timedelta(minutes=n)
                stored = ctx.store.put(mp3, when, "mp3", encrypted=True)
                Recording(
                    sn=f"{when:%Y%m%d_%H%M%S}_{n:06d}", device_id=None, call_id=f"bench-{n}", kind="call",
                    direction="in", caller=f"138{n:08d}", callee="2002", started_at=when, duration=30,
                    duration_ms=30_000, play_count=0, tag_count=0, file_format="MP3", relpath=stored.relpath,
                    disk_size=stored.disk_size, plain_size=stored.plain_size, sha256=stored.sha256,
                    encrypted=True, source="upload", created_at=datetime.now(UTC),
                )
    return count * len(mp3)



def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    import lameenc

    from tests.support.audio import tone_pcm
    from tests.support.pull_servers import (
        FTP_PASSWORD,
        FTP_USER,
        SMB_PASSWORD,
        SMB_USER,
        FtpServer,
        SmbServer,
    )
    from tests.support.server import COMMAND, ApplianceServer, Client, prepare_admin

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(16)
    encoder.set_in_sample_rate(8000)
    encoder.set_channels(1)
    mp3 = bytes(encoder.encode(tone_pcm(args.seconds, 8000)) + encoder.flush())

    work = Path(tempfile.mkdtemp(prefix="recorder-bench-backup-"))
    work.chmod(0o755)
    server = ApplianceServer().start()
    ftp = smbd = None
    rows: list[tuple[str, str]] = []
    try:
        _, token = prepare_admin(server)
        client = Client(server.url, token=token)
        client.http.timeout = None  # "back up now" returns when the run ends
        began = time.monotonic()
        size = seed(server.env, args.recordings, mp3)
        print(f"seeded {args.recordings} recordings ({size / 1e6:.0f} MB) in {time.monotonic() - began:.0f} s", flush=True)
        client.data("mutation($p: String!) { setBackupPassphrase(passphrase: $p) { __typename } }", {"p": PASSPHRASE})
        proc = psutil.Process(server.proc.pid)
        (work / "local").mkdir()
        (work / "ftp" / "sets").mkdir(parents=True)
        ftp = FtpServer(work / "ftp").start()
        smbd = SmbServer().start()
        targets = {
            "LOCAL": ({"kind": "LOCAL", "location": str(work / "local"), "diskLimitPercent": 100}, work / "local"),
            "FTP": ({"kind": "FTP", "location": f"ftp://{ftp.address}/sets", "username": FTP_USER,
                     "password": FTP_PASSWORD}, work / "ftp" / "sets"),
            "SMB": ({"kind": "SMB", "location": smbd.location, "username": SMB_USER, "password": SMB_PASSWORD,
                     "diskLimitPercent": 100}, smbd.share / "recorder"),
        }  # fmt: skip
        for kind, (fields, _) in targets.items():
            made = client.data(SET_TARGET, {"i": fields})["setBackupTarget"]
            assert made["__typename"] == "BackupTarget", made
            began, used = time.monotonic(), process_cpu(proc)
            result = client.data(BACKUP_NOW, {"id": made["id"]})["backupNow"]
            wall, used = time.monotonic() - began, process_cpu(proc) - used
            assert (result["result"], result["recordings"]) == ("DONE", args.recordings), result
            rows.append((f"{kind}: {args.recordings} recordings of {args.seconds:.0f} s backed up",
                         f"{wall:.1f} s · {args.recordings / wall:.0f} recordings/s · "
                         f"{result['bytes'] / wall / 1e6:.1f} MB/s · {1000 * used / args.recordings:.2f} ms CPU each"))
            print(rows[-1], flush=True)
            again = time.monotonic()
            nothing = client.data(BACKUP_NOW, {"id": made["id"]})["backupNow"]
            assert nothing["recordings"] == 0, nothing
            rows.append((f"{kind}: a second run, nothing new", f"{time.monotonic() - again:.2f} s"))
            print(rows[-1], flush=True)

        fresh = ApplianceServer().start()
        try:
            prepare_admin(fresh)
            phrase = work / "passphrase"
            phrase.write_text(PASSPHRASE)
            began = time.monotonic()
            importing = psutil.Popen(
                [*COMMAND, "admin", "import-backup", str(work / "local"), "--passphrase-file", str(phrase)],
                env=fresh.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )
            used = 0.0
            while importing.poll() is None:
                try:
                    used = sum(importing.cpu_times()[:2])
                except psutil.NoSuchProcess:
                    break
                time.sleep(0.2)
            out = importing.stdout.read() if importing.stdout else ""
            wall = time.monotonic() - began
            assert f"{args.recordings} calls" in out, out
            rows.append((f"import of the local set on a new appliance ({args.recordings} recordings)",
                         f"{wall:.1f} s · {args.recordings / wall:.0f} recordings/s · {size / wall / 1e6:.1f} MB/s · "
                         f"{1000 * used / args.recordings:.2f} ms CPU each"))
            print(rows[-1], flush=True)
        finally:
            fresh.stop()
    finally:
        for running in (ftp, smbd):
            if running is not None:
                running.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"Backup: {args.recordings} MP3 recordings of {args.seconds:.0f} s ({len(mp3) / 1000:.0f} kB each), encrypted")
    print(f"machine: {machine()}")
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
