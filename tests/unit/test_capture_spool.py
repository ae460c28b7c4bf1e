"""The capture spool, the RTP receiver thread and the assembly of a call from the spool."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest

from appliance.capture import spool
from appliance.capture.assemble import assemble
from appliance.capture.rtp.ports import PortPool, PortsExhausted
from appliance.capture.rtp.receiver import Leg, RtpReceiver
from appliance.capture.sip.sdp import AnsweredStream, answer_sdp, parse_sdp, recordable
from appliance.capture.spool import PAUSE, RECORD, RESUME, CallInfo, CallSeal, LegInfo, LegWriter
from appliance.media.crypto import MasterKey
from appliance.media.pcm import audioop

MASTER = MasterKey(bytes(range(32)))


def rtp(seq: int, payload: bytes, pt: int = 0, ssrc: int = 9) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, 1000 + 160 * seq, ssrc) + payload


def record(data: bytes, at_ms: int) -> bytes:
    return RECORD.pack(len(data), at_ms) + data


def marker(kind: int, at_ms: int) -> bytes:
    return RECORD.pack(kind, at_ms)


def test_records_stop_at_a_record_cut_short_by_a_crash():
    data = record(b"a" * 20, 5) + marker(PAUSE, 6) + record(b"b" * 20, 7)
    assert [(k, t) for k, t, _ in spool.records(data)] == [(20, 5), (PAUSE, 6), (20, 7)]
    assert [t for _, t, _ in spool.records(data[:-3])] == [5, 6]


def test_call_info_round_trips(tmp_path):
    info = CallInfo("k1", "cid", 3, "2001", "3002", "2026-01-01T00:00:00+00:00", 100,
                    [LegInfo({0: "PCMU", 101: "TELEPHONE-EVENT"}, "2001")])
    seal = CallSeal.create(MASTER, tmp_path / "k1")
    spool.write_info(tmp_path / "k1", info, seal)
    assert spool.read_info(tmp_path / "k1", CallSeal.load(MASTER, tmp_path / "k1")) == info


def _call(folder: Path, legs: dict[int, bytes], caller_leg: int = 0) -> None:
    parties = ["2001", "3002"] if caller_leg == 0 else ["3002", "2001"]
    info = CallInfo("k", "cid", None, "2001", "3002", "2026-01-01T00:00:00+00:00", 1000,
                    [LegInfo({0: "PCMU", 8: "PCMA", 101: "TELEPHONE-EVENT"}, parties[i]) for i in legs])
    seal = CallSeal.create(MASTER, folder)
    spool.write_info(folder, info, seal)
    for index, data in legs.items():
        writer = LegWriter(seal, folder, index)
        writer.open()
        writer.write(data[: len(data) // 2])  # two flushes
        writer.write(data[len(data) // 2 :])
        writer.close()


def ulaw(value: int) -> bytes:
    return audioop.lin2ulaw(struct.pack("<h", value), 2) * 160


def test_assembly_places_each_leg_by_arrival_and_timestamp(tmp_path):
    first = b"".join(record(rtp(n, ulaw(4000)), 1000 + 20 * n) for n in range(5))
    # The second stream starts 40 ms later and carries DTMF events and a bad packet too.
    second = b"".join(record(rtp(n, ulaw(-4000)), 1040 + 20 * n) for n in range(3))
    second += record(rtp(3, b"\x01\x02\x03\x04", pt=101), 1100) + record(b"\xa0" + b"\x00" * 19 + b"\xf0", 1101)
    _call(tmp_path, {0: first, 1: second}, caller_leg=1)  # the caller speaks on the second
    call = assemble(tmp_path, MASTER, stereo=True, gain=1)
    assert call.pcm.channels == 2 and call.pcm.frames == 5 * 160
    frames = struct.unpack(f"<{2 * call.pcm.frames}h", call.pcm.samples)
    left, right = frames[0::2], frames[1::2]
    # Left: the caller (second stream, -4000) from 40 ms; right: the callee from 0.
    assert all(v == 0 for v in left[:320]) and all(v < 0 for v in left[320:800])
    assert all(v > 0 for v in right)
    assert call.skipped == 2 and str(call.started_at) == "2026-01-01 00:00:00+00:00"


def test_a_pause_is_silence_as_long_as_it_lasted(tmp_path):
    data = b"".join(record(rtp(n, ulaw(4000)), 1000 + 20 * n) for n in range(5))
    data += marker(PAUSE, 1100) + marker(RESUME, 2100)
    # The sender's timestamps run on without a gap after the pause: the wall clock places it.
    data += b"".join(record(rtp(n, ulaw(4000)), 2100 + 20 * (n - 5)) for n in range(5, 10))
    _call(tmp_path, {0: data})
    pcm = assemble(tmp_path, MASTER, stereo=False, gain=1).pcm
    samples = struct.unpack(f"<{pcm.frames}h", pcm.samples)
    assert pcm.frames == 8 * 1100 + 5 * 160  # resumed 1100 ms after the start
    assert all(v == 0 for v in samples[800:8800]) and all(v > 0 for v in samples[8800:])


def test_mono_mixes_with_the_gain(tmp_path):
    _call(tmp_path, {0: record(rtp(0, ulaw(1000)), 1000), 1: record(rtp(0, ulaw(1000)), 1000)})
    one = struct.unpack("<160h", assemble(tmp_path, MASTER, stereo=False, gain=1).pcm.samples)
    three = struct.unpack("<160h", assemble(tmp_path, MASTER, stereo=False, gain=3).pcm.samples)
    assert three[0] == 3 * one[0] and one[0] > 1500


def test_answer_receives_only_and_rejects_what_it_cannot_record():
    offer = parse_sdp(
        b"v=0\r\nc=IN IP4 198.51.100.7\r\nm=audio 4000 RTP/AVP 9 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        b"a=label:1\r\na=sendonly\r\nm=audio 4002 RTP/AVP 9\r\na=label:2\r\n"
        b"m=audio 4004 RTP/AVP 8\r\na=label:3\r\na=inactive\r\nm=video 4006 RTP/AVP 96\r\n"
    )
    codecs = [recordable(m) for m in offer.media]
    assert codecs[0] == {0: "PCMU", 101: "TELEPHONE-EVENT"} and codecs[1] == {} and codecs[3] == {}
    streams = [AnsweredStream(offer.media[0], 20000, codecs[0]), AnsweredStream(offer.media[1], 0, {}),
               AnsweredStream(offer.media[2], 20002, codecs[2]), AnsweredStream(offer.media[3], 0, {})]
    text = answer_sdp(1, 1, "127.0.0.1", streams).decode()
    assert "m=audio 20000 RTP/AVP 0 101\r\n" in text and "a=fmtp:101 0-15" in text
    assert "m=audio 0 RTP/AVP 9\r\n" in text and "m=video 0 RTP/AVP 96" in text
    assert text.count("a=recvonly") == 1 and text.count("a=inactive") == 1  # label 3 is paused
    assert "G722" not in text


def test_ports_are_even_skip_taken_ones_and_run_out_clearly():
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    taken = blocker.getsockname()[1] & ~1
    blocker.close()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", taken))
    pool = PortPool("127.0.0.1", taken - 1, taken + 2)
    try:
        socks = [pool.bind()]
        assert [s.getsockname()[1] for s in socks] == [taken + 2]
        with pytest.raises(PortsExhausted):
            pool.bind()
        pool.release(taken + 2)
        socks[0].close()
        assert pool.bind().getsockname()[1] == taken + 2
    finally:
        blocker.close()


def test_receiver_spools_rtp_drops_garbage_and_paused_audio(tmp_path):
    receiver = RtpReceiver(flush_seconds=0.05)
    receiver.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    leg = Leg(sock, LegWriter(CallSeal.create(MASTER, tmp_path), tmp_path, 0))
    receiver.open(leg).result(5)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = sock.getsockname()
    try:
        sender.sendto(rtp(1, b"\xff" * 160), target)
        sender.sendto(b"garbage", target)
        sender.sendto(b"\x40" + bytes(30), target)  # RTP version 1
        time.sleep(0.2)
        assert len(list(spool.records(spool.leg_data(tmp_path, 0, CallSeal.load(MASTER, tmp_path))))) == 1, "on disk before the call ends"
        receiver.set_paused(leg, True).result(5)
        sender.sendto(rtp(2, b"\xff" * 160), target)
        time.sleep(0.1)
        receiver.set_paused(leg, False).result(5)
        sender.sendto(rtp(3, b"\xff" * 160), target)
        time.sleep(0.1)
        receiver.close([leg]).result(5)
    finally:
        sender.close()
        receiver.stop()
    kinds = [k for k, _, _ in spool.records(spool.leg_data(tmp_path, 0, CallSeal.load(MASTER, tmp_path)))]
    assert kinds == [172, PAUSE, RESUME, 172]
    assert leg.rejected == 2 and sock.fileno() == -1
