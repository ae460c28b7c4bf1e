#!/usr/bin/env python3
"""Memory of the API under big audio: concurrent 200 MB WAV uploads and WAV transcodes.

Starts the real appliance (`python -m appliance all`, SQLite, default settings: MP3,
encryption on) on 127.0.0.1 and samples the resident memory of its process and its
children (VmRSS through psutil) every 50 ms. Measures the peak above idle for 1, 3 and
10 concurrent uploads of a 200 MB PCM WAV (8 kHz mono, 3.5 hours; made on disk and
streamed from the file: the client never holds it either), then for 4 concurrent
`?format=wav` requests with a 2-byte Range on a 3-hour recording (stored as MP3),
twice: the first round transcodes (once), the second reads the cached copy.

    python benchmarks/upload_memory.py [--uploads 1,3,10] [--transcodes 4] [--mb 200]
"""

from __future__ import annotations

import argparse
import math
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import machine  # noqa: E402

from tests.support.server import ApplianceServer, create_device, prepare_admin  # noqa: E402

RATE = 8000
MiB = 1024 * 1024
TARGET_MB = 300


def make_wav(path: Path, data_bytes: int) -> None:
    """A PCM16 mono WAV of a tone whose loudness wanders (so the encoder has work)."""
    data_bytes -= data_bytes % 2
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, 1,
        RATE, RATE * 2, 2, 16, b"data", data_bytes,
    )
    seconds = [
        struct.pack(
            f"<{RATE}h",
            *(int(a * math.sin(2 * math.pi * 440 * n / RATE)) for n in range(RATE)),
        )
        for a in (3000, 8000, 12000, 6000, 1000)
    ]
    with path.open("wb") as fh:
        fh.write(header)
        written, i = 0, 0
        while written < data_bytes:
            block = seconds[i % len(seconds)][: data_bytes - written]
            fh.write(block)
            written += len(block)
            i += 1


class RssSampler:
    """Peak RSS of a process and its children, sampled every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def rss(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def idle(self, seconds: float = 2.0) -> int:
        samples = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            samples.append(self.rss())
            time.sleep(0.05)
        return sorted(samples)[len(samples) // 2]

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()

        def run() -> None:
            while not self._stop.is_set():
                self.peak = max(self.peak, self.rss())
                time.sleep(0.05)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def upload(url: str, device: dict, path: Path, started_at: str) -> httpx.Response:
    with path.open("rb") as fh:  # httpx reads the file part in pieces as it sends
        return httpx.post(
            url + "/api/v1/recordings",
            data={"call_id": uuid.uuid4().hex, "caller": "1001", "callee": "2002",
                  "started_at": started_at},
            files={"audio": ("call.wav", fh, "audio/wav")},
            auth=(device["alias"], device["secret"]),
            timeout=1800,
        )


def refused_chunked(url: str, device: dict, mb: int) -> httpx.Response | str:
    """A multipart body with no Content-Length (chunked), larger than the limit."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"call_id\"\r\n\r\n{uuid.uuid4().hex}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n\r\n"
    ).encode()
    block = b"\x01" * MiB

    def body():  # type: ignore[no-untyped-def]
        yield head
        for _ in range(mb):
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        return httpx.post(
            url + "/api/v1/recordings",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            auth=(device["alias"], device["secret"]),
            timeout=600,
        )
    except httpx.HTTPError as exc:  # the server answered 413 and closed while we sent
        return f"closed early ({type(exc).__name__})"


def concurrently(n: int, job: Callable[[], object]) -> tuple[list[object], float]:
    results: list[object] = [None] * n

    def run(i: int) -> None:
        try:
            results[i] = job()
        except Exception as exc:  # reported in the table
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - t0


def status_summary(results: list[object]) -> str:
    codes = [
        str(r.status_code) if isinstance(r, httpx.Response) else r if isinstance(r, str) else type(r).__name__
        for r in results
    ]
    return ", ".join(sorted(set(f"{codes.count(c)}×{c}" for c in codes)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", default="1,3,10")
    parser.add_argument("--transcodes", type=int, default=4)
    parser.add_argument("--mb", type=int, default=200, help="size of each uploaded WAV (MB)")
    parser.add_argument("--hours", type=float, default=3.0, help="length of the transcoded recording")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    server = ApplianceServer()
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        big = work / "big.wav"
        make_wav(big, args.mb * 1000 * 1000)
        long_wav = work / "long.wav"
        make_wav(long_wav, int(args.hours * 3600 * RATE * 2))
        server.start()
        admin, token = prepare_admin(server)
        device = create_device(admin)
        sampler = RssSampler(server.proc.pid)  # type: ignore[union-attr]
        # Warm up: import and first-use costs are part of idle, not of the uploads.
        small = work / "small.wav"
        make_wav(small, RATE * 2 * 5)
        warm = upload(server.url, device, small, "2024-05-01T09:30:00+00:00")
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=1800)
        api.get(f"/api/v1/recordings/{warm.json()['id']}/audio?format=wav", headers={"Range": "bytes=0-1"})
        idle = sampler.idle()
        print(f"idle RSS {idle / MiB:.0f} MiB", flush=True)

        for n in [int(x) for x in args.uploads.split(",") if x]:
            with sampler:
                results, took = concurrently(
                    n, lambda: upload(server.url, device, big, "2024-05-02T09:30:00+00:00")
                )
            rows.append((f"{n} × {big.stat().st_size / 1e6:.0f} MB WAV upload", f"{sampler.peak / MiB:.0f}",
                         f"{(sampler.peak - idle) / MiB:.0f}", f"{took:.1f}", status_summary(results)))
            print(rows[-1], flush=True)

        with sampler:
            refused, took = concurrently(1, lambda: refused_chunked(server.url, device, 300))
        after = sampler.idle(1.0)
        rows.append(("1 × 300 MB chunked upload over the limit (refused)", f"{sampler.peak / MiB:.0f}",
                     f"{(sampler.peak - idle) / MiB:.0f} (after: {(after - idle) / MiB:.0f})", f"{took:.1f}",
                     status_summary(refused)))
        print(rows[-1], flush=True)

        r = upload(server.url, device, long_wav, "2024-05-03T09:30:00+00:00")
        assert r.status_code == 201, r.text
        rec_id = r.json()["id"]
        for round_name in ("first (transcodes once)", "second (cached copy)"):
            with sampler:
                results, took = concurrently(
                    args.transcodes,
                    lambda: api.get(
                        f"/api/v1/recordings/{rec_id}/audio?format=wav", headers={"Range": "bytes=1000-1001"}
                    ),
                )
            ok = all(isinstance(x, httpx.Response) and x.status_code == 206 and len(x.content) == 2
                     for x in results)
            rows.append((f"{args.transcodes} × WAV of a {args.hours:g} h MP3, Range 2 bytes, {round_name}",
                         f"{sampler.peak / MiB:.0f}", f"{(sampler.peak - idle) / MiB:.0f}", f"{took:.1f}",
                         status_summary(results) + ("" if ok else " (wrong bytes)")))
            print(rows[-1], flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(server.root, ignore_errors=True)

    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    print()
    print(f"# upload and transcode memory, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}, nproc {nproc}")
    print(f"# idle RSS of the appliance: {idle / MiB:.0f} MiB; target: peak under {TARGET_MB} MiB above idle")
    print()
    print("| what | peak RSS (MiB) | above idle (MiB) | wall time (s) | answers |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
