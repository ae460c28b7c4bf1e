#!/usr/bin/env python3
"""Pulling from a PBX: a FreePBX tree of --files one-minute recordings (PCM WAV, 8 kHz, as
FreePBX writes by default), fetched over FTP (pyftpdlib) and over SFTP (OpenSSH's sshd),
both on 127.0.0.1; then a second run over a tree of --listed remote files the device
already fetched (target < 30 s: one listing, one read of what was fetched, nothing new).

For each protocol: files per second, MB/s (of remote bytes), and the appliance's CPU per
file (its process and children, user + system). The remote files are hard links to one
recording, so the PBX's side costs one file's disk; the appliance stores each as its own
recording (MP3, encrypted: the defaults).

    python benchmarks/pull.py [--files 10000] [--listed 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import machine, process_cpu  # noqa: E402

PULL = "mutation($id: ID!) { pullNow(deviceId: $id) { fetched alreadyHad waiting failed unrecognised error errorDetail listed problems { path reason detail } } }"
CREATE = "mutation($i: DeviceInput!) { createDevice(input: $i) { __typename ... on Device { id } ... on UserError { message } } }"
PER_FOLDER = 100  # FreePBX keeps one folder per day; a busy PBX's day holds hundreds


def tree(base: Path, count: int, source: Path) -> int:
    """count hard links to source under monitor/YYYY/MM/DD; the bytes they list."""
    start = datetime(2025, 1, 1, 8, 0, 0)
    copies: dict[int, Path] = {}
    for n in range(count):
        # ext4 allows 65,000 links to one file: a copy of the recording every 60,000.
        if n // 60_000 not in copies:
            copy = source.with_name(f"{source.stem}-{n // 60_000}{source.suffix}")
            if not copy.exists():
                shutil.copy2(source, copy)
            copies[n // 60_000] = copy
        day, k = divmod(n, PER_FOLDER)
        folder = base / "monitor" / f"{2025 + day // 365}" / f"{(day // 28) % 12 + 1:02d}" / f"{day % 28 + 1:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        at = start.replace(hour=8 + k // 60 % 12, minute=k % 60)
        name = f"in-{2000 + k}-138{n:08d}-{at:%Y%m%d}-{at:%H%M%S}-{1735689600 + n}.{n}.wav"
        os.link(copies[n // 60_000], folder / name)
    for folder, _, _ in os.walk(base):
        os.chmod(folder, 0o755)
    return count * source.stat().st_size



def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--listed", type=int, default=100_000)
    args = ap.parse_args()
    from tests.support.audio import tone_pcm, wav_bytes
    from tests.support.pull_servers import (
        FTP_PASSWORD,
        FTP_USER,
        SSH_PASSWORD,
        SSH_USER,
        FtpServer,
        SshServer,
    )
    from tests.support.server import ApplianceServer, Client, prepare_admin

    work = Path(tempfile.mkdtemp(prefix="recorder-bench-pull-"))
    work.chmod(0o755)
    source = work / "minute.wav"
    source.write_bytes(wav_bytes(tone_pcm(60.0, 8000), 8000))
    old = time.time() - 3600
    os.utime(source, (old, old))
    source.chmod(0o644)
    server = ApplianceServer().start()
    rows: list[tuple[str, str]] = []
    try:
        _, token = prepare_admin(server)
        client = Client(server.url, token=token)
        client.http.timeout = None  # "fetch now" returns when the run ends
        proc = psutil.Process(server.proc.pid)

        def device(protocol: str, address: str, folder: str, user: str, password: str) -> str:
            made = client.data(CREATE, {"i": {
                "alias": f"bench-{protocol.lower()}-{time.monotonic_ns()}", "mode": "PULL", "address": address,
                "secret": password, "pullProtocol": protocol, "pullPath": folder, "pullUsername": user}})["createDevice"]
            assert made["__typename"] == "Device", made
            return made["id"]

        def timed(device_id: str) -> tuple[dict, float, float]:
            began, used = time.monotonic(), process_cpu(proc)
            result = client.data(PULL, {"id": device_id})["pullNow"]
            return result, time.monotonic() - began, process_cpu(proc) - used

        fetch_tree = work / "fetch"
        size = tree(fetch_tree, args.files, source)
        ftp = FtpServer(work).start()
        sshd = SshServer().start()
        try:
            for protocol, address, folder, user, password in (
                ("FTP", ftp.address, "fetch/monitor", FTP_USER, FTP_PASSWORD),
                ("SFTP", f"sftp://{sshd.address}", str(fetch_tree / "monitor"), SSH_USER, SSH_PASSWORD),
            ):
                result, wall, used = timed(device(protocol, address, folder, user, password))
                assert result["error"] == "" and result["fetched"] == args.files, result
                rows.append((f"{protocol}: {args.files} one-minute WAVs fetched and stored",
                             f"{wall:.1f} s · {args.files / wall:.1f} files/s · {size / wall / 1e6:.1f} MB/s · "
                             f"{1000 * used / args.files:.1f} ms CPU per file"))
                print(rows[-1], flush=True)
            shutil.rmtree(fetch_tree)

            listed_tree = work / "listed"
            tree(listed_tree, args.listed, source)
            for protocol, address, folder, user, password in (
                ("FTP", ftp.address, "listed/monitor", FTP_USER, FTP_PASSWORD),
                ("SFTP", f"sftp://{sshd.address}", str(listed_tree / "monitor"), SSH_USER, SSH_PASSWORD),
            ):
                device_id = device(protocol, address, folder, user, password)
                # What a first run would have remembered: every file, by its listing's facts.
                mtime, length = int(source.stat().st_mtime), source.stat().st_size
                keys = [
                    (int(device_id), str(Path(dirpath, name).relative_to(listed_tree / "monitor")), length, mtime,
                     datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
                    for dirpath, _, names in os.walk(listed_tree / "monitor") for name in names
                ]
                with sqlite3.connect(server.data_dir / "recorder.db", timeout=30) as db:
                    db.executemany(
                        "INSERT INTO pulled_file (device_id, path, size, mtime, fetched_at) VALUES (?, ?, ?, ?, ?)", keys
                    )
                result, wall, used = timed(device_id)
                assert result["error"] == "" and result["alreadyHad"] == args.listed and result["fetched"] == 0, result
                rows.append((f"{protocol}: second run over {args.listed} remote files, nothing new (target < 30 s)",
                             f"{wall:.1f} s · {used:.1f} s CPU"))
                print(rows[-1], flush=True)
        finally:
            ftp.stop()
            sshd.stop()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"Pull: {args.files} files fetched per protocol; {args.listed} files listed on the second run")
    print(f"machine: {machine()}")
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
