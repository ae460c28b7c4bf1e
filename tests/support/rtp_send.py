"""Send a call's RTP streams to the recorder, as a recording client would (run by sipp).

Each stream is a steady tone of its own frequency in 20 ms G.711 packets (PCMU, or
PCMA with --codec), all streams paced together from one start. Loss and reordering are
chosen by a seeded generator, and what was really sent, and when each 20 ms slot really
went, is written to a JSON report the tests compare against.

DTMF (RFC 4733): --dtmf STREAM:SLOT:COUNT puts a key press on a stream for COUNT 20 ms
slots from packet SLOT on. As a sender does, the voice packets of those slots are not
sent: telephone-event packets (--event-pt, 101 by default, as the offer maps it) take
their place, on the stream's SSRC and sequence, all carrying the event's start timestamp
with a growing duration; the final one (E bit) goes three times in the last three slots.

A hold: --hold SLOT:COUNT keeps every stream quiet for COUNT slots from packet SLOT on,
and its RTP clock stands still meanwhile (as a sender that stops its media on hold): the
packets after it carry on the timestamps and sequence numbers where they stopped.

    rtp_send.py --ports 20000,20002 --seconds 3 --tones 400,1000 [--loss 0.05]
                [--reorder 0.05] [--codec PCMA] [--dtmf 0:50:10,1:90:5]
                [--event-pt 101] [--hold 50:75] [--report out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import struct
import sys
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 8000
SAMPLES = 160  # 20 ms
PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}


def tone_pcm(freq: float, samples: int, start: int, amplitude: int = 8000) -> bytes:
    return struct.pack(
        f"<{samples}h",
        *(int(amplitude * math.sin(2 * math.pi * freq * (start + n) / RATE)) for n in range(samples)),
    )


def encode(pcm: bytes, codec: str) -> bytes:
    return audioop.lin2alaw(pcm, 2) if codec == "PCMA" else audioop.lin2ulaw(pcm, 2)


def decode(payload: bytes, codec: str) -> bytes:
    """G.711 back to PCM16, the way a receiver decodes it."""
    return audioop.alaw2lin(payload, 2) if codec == "PCMA" else audioop.ulaw2lin(payload, 2)


def packet(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    second = (0x80 if marker else 0) | pt
    return struct.pack("!BBHII", 0x80, second, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def dtmf_plan(spec: str) -> dict[int, list[tuple[int, int]]]:
    """'STREAM:SLOT:COUNT,...' into each stream's key presses (first slot, slots)."""
    presses: dict[int, list[tuple[int, int]]] = {}
    for item in filter(None, spec.split(",")):
        stream, slot, count = (int(x) for x in item.split(":"))
        if count < 3:
            raise SystemExit("a key press lasts at least 3 slots (its end goes three times)")
        presses.setdefault(stream, []).append((slot, count))
    return presses


def event_payloads(digit: int, count: int) -> list[tuple[bytes, bool]]:
    """One key press over count slots (RFC 4733 §2.3): event, E bit, volume 10, duration in
    timestamp units; updates every slot, then the final packet three times. The first
    packet carries the marker bit."""
    out = []
    for i in range(count):
        end = i >= count - 3
        duration = SAMPLES * min(i + 1, count - 2)
        payload = struct.pack("!BBH", digit, (0x80 if end else 0) | 10, duration)
        out.append((payload, i == 0))
    return out


def plan(count: int, loss: float, reorder: float, rng: random.Random) -> tuple[list[int], list[int]]:
    """The packet for each 20 ms slot (adjacent swaps), and the ones never sent: a lost
    packet leaves its slot empty, so the stream keeps to the wall clock."""
    order = list(range(count))
    i = 1
    while i < count - 1:
        if rng.random() < reorder:
            order[i], order[i + 1] = order[i + 1], order[i]
            i += 2
        else:
            i += 1
    lost = sorted(n for n in range(2, count - 2) if rng.random() < loss)  # keep the ends
    return order, lost


def garbage(n: int) -> bytes:
    """Datagrams a recorder must drop without harm: short, wrong version, bad padding,
    a header extension longer than the packet, an unknown payload type."""
    kinds = [
        b"\x80\x00\x00",
        struct.pack("!BBHII", 0x40, 0, 1, 2, 3) + b"\xff" * 160,
        struct.pack("!BBHII", 0xA0, 0, 1, 2, 3) + b"\xff" * 10 + b"\xfa",
        struct.pack("!BBHII", 0x90, 0, 1, 2, 3) + struct.pack("!HH", 0xBEDE, 400) + b"\xff" * 8,
        struct.pack("!BBHII", 0x80, 96, 1, 2, 3) + bytes(1400),
    ]
    return kinds[n % len(kinds)]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--ports", required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--tones", default="400,1000")
    ap.add_argument("--codec", default="PCMU", choices=sorted(PAYLOAD_TYPES))
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--reorder", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--garbage", type=int, default=0, help="a malformed datagram every N slots")
    ap.add_argument("--dtmf", default="", help="key presses, STREAM:SLOT:COUNT[,...]")
    ap.add_argument("--event-pt", type=int, default=101, help="telephone-event's payload type")
    ap.add_argument("--hold", default="", help="SLOT:COUNT quiet, the RTP clock stopped")
    ap.add_argument("--report", default="")
    ap.add_argument("--started", default="", help="write the first packet's wall-clock time and our PID here")
    args = ap.parse_args(argv)
    if args.host != "127.0.0.1":
        raise SystemExit("tests send to 127.0.0.1 only")
    ports = [int(p) for p in args.ports.split(",") if p]
    tones = [float(t) for t in args.tones.split(",")]
    count = int(args.seconds * 1000 / 20)
    rng = random.Random(args.seed)
    pt = PAYLOAD_TYPES[args.codec]
    presses = dtmf_plan(args.dtmf)
    hold_from, held = (int(x) for x in args.hold.split(":")) if args.hold else (count, 0)

    def clock(n: int) -> int:
        """Packet n's place on the sender's RTP clock, which stood still through the hold."""
        return n - held if n >= hold_from + held else n

    streams = []
    for index, port in enumerate(ports):
        order, lost = plan(count, args.loss, args.reorder, rng)
        ssrc = rng.getrandbits(32)
        base_seq, base_ts = rng.getrandbits(16), rng.getrandbits(32)
        freq = tones[index % len(tones)]
        payloads = [encode(tone_pcm(freq, SAMPLES, n * SAMPLES), args.codec) for n in range(count)]
        datagrams = {
            n: packet(pt, base_seq + clock(n), base_ts + clock(n) * SAMPLES, ssrc, payloads[n])
            for n in order
            if n not in lost and not hold_from <= n < hold_from + held
        }
        events: list[int] = []
        for digit, (first, slots) in enumerate(presses.get(index, [])):
            start_ts = base_ts + clock(first) * SAMPLES
            for i, (payload, marker) in enumerate(event_payloads(digit % 16, slots)):
                n = first + i
                if n < count and n in datagrams:
                    datagrams[n] = packet(args.event_pt, base_seq + clock(n), start_ts, ssrc, payload, marker)
                    events.append(n)
        streams.append(
            {"port": port, "order": order, "lost": lost, "events": sorted(events), "freq": freq,
             "datagrams": datagrams}
        )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    if args.started:
        with open(args.started, "w") as out:
            out.write(f"{time.time()!r} {os.getpid()}")
    sent_ms = []  # when each slot really went, from the first: a busy machine delays some
    for slot in range(count):
        delay = start + slot * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent_ms.append(round((time.monotonic() - start) * 1000, 2))
        for s in streams:
            datagram = s["datagrams"].get(s["order"][slot])
            if datagram is not None:
                sock.sendto(datagram, (args.host, s["port"]))
            if args.garbage and slot % args.garbage == 0:
                sock.sendto(garbage(slot // args.garbage), (args.host, s["port"]))
    if args.report:
        with open(args.report, "w") as out:
            json.dump(
                {
                    "packets": count,
                    "codec": args.codec,
                    "hold": [hold_from, held] if held else None,
                    "sent_ms": [round(t - sent_ms[0], 2) for t in sent_ms],
                    "streams": [
                        {"port": s["port"], "freq": s["freq"], "lost": s["lost"], "order": s["order"],
                         "events": s["events"]}
                        for s in streams
                    ],
                },
                out,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
