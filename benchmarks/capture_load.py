#!/usr/bin/env python3
"""SIPREC capture under load: N concurrent two-party G.711 calls for 60 s or more.

Starts the appliance on 127.0.0.1 (SQLite, WAV, stereo, encryption on), sets up N
SIPREC sessions over UDP, sends both legs of every call in 20 ms PCMU packets from a
separate process, ends the calls with BYE and checks every stored recording. Prints,
per N: packets sent and received (received = 20 ms windows of the stored audio that
carry the call's tone), kernel drops on the RTP sockets (/proc/net/udp), recordings
complete (as long as sent, within one packet) and gap-free, and the recorder's CPU
seconds per call-minute while the calls run, then the time and CPU it took to store
them all.

`--employees N` puts N employees (extensions 10000 on, the callers' numbers) in an
organisation bound to the device, so that working out a party's organisation has an
owner map to look in; `--setup-only` measures the setup of the sessions and the storing
of the (empty) recordings after an immediate BYE, without media.

    python benchmarks/capture_load.py [--calls 100,300,1000] [--seconds 60]
        [--employees 300] [--setup-only]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import re
import socket
import struct
import subprocess
import sys
import time
import uuid
import warnings
import wave
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import machine  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

HOST = "127.0.0.1"
RTP_LOW, RTP_HIGH = 20000, 29999  # the default range, below the kernel's ephemeral ports
PACKET = 160
TONES = (400.0, 1000.0)  # caller, callee


# --- the sender process --------------------------------------------------------------


def tone_payloads(freq: float) -> list[bytes]:
    """One second of a PCMU tone as 50 packets (a whole number of cycles: it loops)."""
    pcm = struct.pack(
        "<8000h", *(int(8000 * math.sin(2 * math.pi * freq * n / 8000)) for n in range(8000))
    )
    ulaw = audioop.lin2ulaw(pcm, 2)
    return [ulaw[i : i + PACKET] for i in range(0, 8000, PACKET)]


def send(ports_file: str, seconds: float, out: str) -> None:
    """Pace every stream's packets on one 20 ms clock; report what was sent and lateness."""
    ports = json.loads(Path(ports_file).read_text())  # [[caller_port, callee_port], ...]
    tones = [tone_payloads(f) for f in TONES]
    streams = [(p, tones[i], 0x10000 * n + i) for n, pair in enumerate(ports) for i, p in enumerate(pair)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    header = struct.Struct("!BBHII")
    count = int(seconds * 50)
    sent = late_max = 0
    start = time.monotonic()
    for slot in range(count):
        delay = start + slot * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            late_max = max(late_max, int(-delay * 1000))
        payload_index = slot % 50
        for port, payloads, ssrc in streams:
            data = header.pack(0x80, 0, slot & 0xFFFF, slot * PACKET, ssrc) + payloads[payload_index]
            while True:
                try:
                    sock.sendto(data, (HOST, port))
                    break
                except BlockingIOError:
                    time.sleep(0.0005)
            sent += 1
    cpu = psutil.Process().cpu_times()
    Path(out).write_text(
        json.dumps({"sent": sent, "late_max_ms": late_max, "cpu": cpu.user + cpu.system})
    )


# --- SIP -----------------------------------------------------------------------------


def metadata(caller: str, callee: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><recording xmlns="urn:ietf:params:xml:ns:recording:1">'
        "<datamode>complete</datamode><session session_id=\"s\"/>"
        f'<participant participant_id="a"><nameID aor="sip:{caller}@pbx"/></participant>'
        f'<participant participant_id="b"><nameID aor="sip:{callee}@pbx"/></participant>'
        '<stream stream_id="1" session_id="s"><label>1</label></stream>'
        '<stream stream_id="2" session_id="s"><label>2</label></stream>'
        '<participantstreamassoc participant_id="a"><send>1</send></participantstreamassoc>'
        '<participantstreamassoc participant_id="b"><send>2</send></participantstreamassoc>'
        "</recording>"
    )


def invite(call_id: str, local_port: int, n: int) -> bytes:
    sdp = (
        "v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 6000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n"
        "m=audio 6002 RTP/AVP 0\r\na=label:2\r\na=sendonly\r\n"
    )
    body = (
        f"--b\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n"
        f"--b\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n"
        f"{metadata(f'1{n:04d}', f'2{n:04d}')}\r\n--b--\r\n"
    ).encode()
    return _request("INVITE", call_id, local_port, 1, "", body, "multipart/mixed;boundary=b")


def _request(method: str, call_id: str, local_port: int, cseq: int, to_tag: str,
             body: bytes = b"", content_type: str = "") -> bytes:
    lines = [
        f"{method} sip:srs@{HOST} SIP/2.0",
        f"Via: SIP/2.0/UDP {HOST}:{local_port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport",
        "Max-Forwards: 70",
        f"From: <sip:src@{HOST}>;tag=src",
        f"To: <sip:srs@{HOST}>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:src@{HOST}:{local_port}>;+sip.src",
        "Require: siprec" if method == "INVITE" else "Max-Forwards: 70",
    ]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class SipClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str], asyncio.Future[bytes]] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        status = data.split(b" ", 2)[1]
        if status.startswith(b"1"):
            return
        call_id = re.search(rb"(?im)^call-id:\s*(\S+)", data).group(1).decode()
        method = re.search(rb"(?im)^cseq:\s*\d+\s+(\w+)", data).group(1).decode()
        future = self.waiting.pop((call_id, method), None)
        if future is not None and not future.done():
            future.set_result(data)

    async def ask(self, key: tuple[str, str], data: bytes, port: int) -> bytes:
        future = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        for _ in range(6):
            assert self.transport is not None
            self.transport.sendto(data, (HOST, port))
            try:
                return await asyncio.wait_for(asyncio.shield(future), 4)
            except TimeoutError:
                continue
        raise RuntimeError(f"no answer to {key}")


async def set_up(n: int, sip_port: int) -> tuple[list[tuple[str, str, list[int]]], float]:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(SipClient, local_addr=(HOST, 0))
    local_port = transport.get_extra_info("sockname")[1]
    limit = asyncio.Semaphore(100)
    begun = time.monotonic()

    async def one(i: int) -> tuple[str, str, list[int]]:
        call_id = f"bench-{uuid.uuid4().hex}"
        async with limit:
            answer = await client.ask((call_id, "INVITE"), invite(call_id, local_port, i), sip_port)
        if not answer.startswith(b"SIP/2.0 200"):
            raise RuntimeError(answer[:200].decode())
        tag = re.search(rb"(?im)^to:.*;tag=([\w.-]+)", answer).group(1).decode()
        ports = [int(p) for p in re.findall(rb"m=audio (\d+)", answer)]
        transport.sendto(_request("ACK", call_id, local_port, 1, tag), (HOST, sip_port))
        return call_id, tag, ports

    calls = await asyncio.gather(*(one(i) for i in range(n)))
    took = time.monotonic() - begun
    transport.close()
    return calls, took


async def tear_down(calls: list[tuple[str, str, list[int]]], sip_port: int) -> None:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(SipClient, local_addr=(HOST, 0))
    local_port = transport.get_extra_info("sockname")[1]
    limit = asyncio.Semaphore(100)

    async def one(call_id: str, tag: str) -> None:
        async with limit:
            await client.ask((call_id, "BYE"), _request("BYE", call_id, local_port, 2, tag), sip_port)

    await asyncio.gather(*(one(c, t) for c, t, _ in calls))
    transport.close()


# --- measuring -----------------------------------------------------------------------


def udp_drops(proc: psutil.Process, low: int, high: int) -> tuple[int, int]:
    """(sockets, drops) of the recorder's UDP sockets in the RTP port range."""
    ours = {c.laddr.port for c in proc.net_connections(kind="udp4") if low <= c.laddr.port <= high}
    sockets = drops = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) in ours:
            sockets += 1
            drops += int(fields[-1])
    return sockets, drops


def judge(wav: bytes, packets: int) -> tuple[int, bool, bool]:
    """(packets heard, complete, gap-free) for a stereo recording of one call."""
    with wave.open(io.BytesIO(wav)) as w:
        frames = w.readframes(w.getnframes())
        channels = w.getnchannels()
    heard = 0
    gap_free = True
    for channel in range(channels):
        samples = audioop.tomono(frames, 2, 1, 0) if channel == 0 else audioop.tomono(frames, 2, 0, 1)
        windows = [samples[i : i + 2 * PACKET] for i in range(0, len(samples), 2 * PACKET)]
        loud = [audioop.rms(w, 2) > 1000 for w in windows]
        heard += min(sum(loud), packets)  # a boundary window of both legs' offsets counts once
        gap_free = gap_free and all(loud[:packets])
    complete = abs(len(frames) // (2 * channels) - packets * PACKET) <= PACKET
    return heard, complete, gap_free


def add_employees(admin, device_id: str, count: int) -> None:
    """`count` employees with the callers' extensions, in one organisation on the device."""
    org = admin.data(
        'mutation($d: ID) { createOrganization(input: {name: "bench", prefix: "BNCH", deviceId: $d}) '
        "{ __typename } }",
        {"d": device_id},
    )["createOrganization"]
    assert org["__typename"] == "Organization", org
    lines = ["分机号,姓名,密码,联络电话,所属组织,角色"] + [f"1{i:04d},E{i},,,bench," for i in range(count)]
    csv = ("\r\n".join(lines) + "\r\n").encode()
    r = admin.http.post("/api/v1/employees/import", files={"file": ("e.csv", csv, "text/csv")})
    assert r.status_code == 201 and r.json()["created"] == count, r.text


def run_setup(n: int, server, client) -> dict[str, object]:
    """Set up n sessions, end them at once and wait until all are stored (no media)."""
    proc = psutil.Process(server.proc.pid)
    before_total = client.data("{ recordings { total } }")["recordings"]["total"]
    cpu0 = sum(proc.cpu_times()[:2])
    calls, setup_s = asyncio.run(set_up(n, server.sip_port))
    cpu1 = sum(proc.cpu_times()[:2])
    print(json.dumps({"calls": n, "setup_s": round(setup_s, 2)}), flush=True)
    stop_began = time.monotonic()
    asyncio.run(tear_down(calls, server.sip_port))
    # An ACK lost in the burst leaves a session without ACK nor media: dropped, not stored.
    stored, last_change = 0, time.monotonic()
    while stored < n and time.monotonic() - last_change < 15:
        now = client.data("{ recordings { total } }")["recordings"]["total"] - before_total
        if now != stored:
            stored, last_change = now, time.monotonic()
        time.sleep(0.2)
    store_s = last_change - stop_began
    cpu2 = sum(proc.cpu_times()[:2])
    return {
        "calls": n,
        "setup_s": round(setup_s, 2),
        "setup_cpu_s": round(cpu1 - cpu0, 2),
        "stored": stored,
        "store_s": round(store_s, 1),
        "store_cpu_s": round(cpu2 - cpu1, 1),
    }


def run(n: int, seconds: float, server, client, work: Path) -> dict[str, object]:
    proc = psutil.Process(server.proc.pid)
    before_total = client.data("{ recordings { total } }")["recordings"]["total"]
    calls, setup_s = asyncio.run(set_up(n, server.sip_port))
    ports_file = work / f"ports-{n}.json"
    ports_file.write_text(json.dumps([c[2] for c in calls]))
    out = work / f"sent-{n}.json"
    cpu0 = sum(proc.cpu_times()[:2])
    sender = subprocess.Popen(
        [sys.executable, __file__, "--send", str(ports_file), "--seconds", str(seconds), "--out", str(out)]
    )
    began = time.monotonic()
    peak_rss = 0
    while sender.poll() is None:
        peak_rss = max(peak_rss, proc.memory_info().rss)
        time.sleep(1)
    held = time.monotonic() - began
    time.sleep(0.3)  # the last packets reach the spool's next flush
    cpu1 = sum(proc.cpu_times()[:2])
    sockets, drops = udp_drops(proc, RTP_LOW, RTP_HIGH)
    sent = json.loads(out.read_text())
    stop_began = time.monotonic()
    asyncio.run(tear_down(calls, server.sip_port))
    while client.data("{ recordings { total } }")["recordings"]["total"] < before_total + n:
        time.sleep(0.5)
    store_s = time.monotonic() - stop_began
    cpu2 = sum(proc.cpu_times()[:2])
    items: list[dict] = []
    page = 1
    while len(items) < n:
        found = client.data(
            "query($p: Int!) { recordings(page: $p, pageSize: 200) { items { id } } }", {"p": page}
        )["recordings"]["items"]
        items += found
        page += 1
    packets = int(seconds * 50)
    heard = complete = gap_free = 0
    for item in items[:n]:
        wav = client.http.get(f"/api/v1/recordings/{item['id']}/audio").content
        h, c, g = judge(wav, packets)
        heard, complete, gap_free = heard + h, complete + c, gap_free + g
    return {
        "calls": n,
        "setup_s": round(setup_s, 1),
        "held_s": round(held, 1),
        "sent": sent["sent"],
        "received": heard,
        "sockets": sockets,
        "drops": drops,
        "complete": complete,
        "gap_free": gap_free,
        "cpu_per_call_min": round((cpu1 - cpu0) / (n * held / 60), 4),
        "cpu_capture_pct": round(100 * (cpu1 - cpu0) / held, 1),
        "rss_mib": round(peak_rss / 2**20),
        "store_s": round(store_s, 1),
        "store_cpu_per_call_min": round((cpu2 - cpu1) / (n * held / 60), 4),
        "sender_cpu_pct": round(100 * sent["cpu"] / held, 1),
        "sender_late_max_ms": sent["late_max_ms"],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", default="100,300,1000")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--employees", type=int, default=0)
    ap.add_argument("--setup-only", action="store_true")
    ap.add_argument("--send", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.send:
        send(args.send, args.seconds, args.out)
        return 0
    from tests.support.server import ApplianceServer, Client, prepare_admin

    server = ApplianceServer().start()
    rows = []
    try:
        admin, token = prepare_admin(server)
        device = admin.data(
            'mutation { createDevice(input: {alias: "pbx", address: "127.0.0.1", secret: "bench-secret", '
            "mode: PUSH}) { __typename ... on Device { id } } }"
        )["createDevice"]
        if args.employees:
            add_employees(admin, device["id"], args.employees)
        settings = admin.data(
            "mutation($i: SettingsInput!) { updateSettings(input: $i) { __typename } }",
            {"i": {"fileFormat": "WAV", "channelMode": "STEREO", "rtpPortMin": RTP_LOW, "rtpPortMax": RTP_HIGH,
                   "showZeroDuration": True}},
        )
        assert settings["updateSettings"]["__typename"] == "Settings", settings
        client = Client(server.url, token=token)
        for n in (int(x) for x in args.calls.split(",")):
            if args.setup_only:
                row = run_setup(n, server, client)
                rows.append(row)
                print(json.dumps(row), flush=True)
                continue
            row = run(n, args.seconds, server, client, server.root)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        server.stop()
    print()
    if args.setup_only:
        print(f"SIPREC session setup, {args.employees} employees on the device; machine: {machine()}")
        return 0
    print(f"SIPREC capture, {args.seconds:.0f} s per run, PCMU 20 ms, 2 legs per call, WAV stereo, encrypted")
    print(f"machine: {machine()}")
    head = ("calls", "sent", "received", "drops", "complete", "gap-free", "CPU s/call-min", "capture CPU %",
            "RSS MiB", "store s", "store CPU s/call-min", "sender CPU %", "setup s")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(
            f"| {r['calls']} | {r['sent']:,} | {r['received']:,} | {r['drops']} | {r['complete']}/{r['calls']} | "
            f"{r['gap_free']}/{r['calls']} | {r['cpu_per_call_min']} | {r['cpu_capture_pct']} | {r['rss_mib']} | "
            f"{r['store_s']} | {r['store_cpu_per_call_min']} | {r['sender_cpu_pct']} | {r['setup_s']} |"
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
