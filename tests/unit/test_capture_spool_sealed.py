"""The spool seals what it holds (issue 11, defect 17): no audio or number of a live call on
disk in clear, a flush cut short or damaged ends its leg there, and nothing opens without
the master key the call was spooled under."""

from __future__ import annotations

import json
import struct
from dataclasses import asdict
from pathlib import Path

import pytest

from appliance.capture import spool
from appliance.capture.assemble import assemble
from appliance.capture.spool import RECORD, CallInfo, CallSeal, LegInfo, LegWriter
from appliance.errors import IntegrityError
from appliance.media.crypto import MasterKey

MASTER = MasterKey(bytes(range(32)))
CALLER, CALLEE = "13800138000", "+8610-5555-0199"


def rtp(seq: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, 7) + payload


def payload(seq: int) -> bytes:
    # Distinct, recognisable bytes per packet: any of them on disk would be a leak.
    return bytes((seq * 7 + i) % 251 for i in range(160))


def info(legs: int = 2) -> CallInfo:
    return CallInfo("k", "cid-1", 3, CALLER, CALLEE, "2026-05-01T01:30:00+00:00", 1000,
                    [LegInfo({0: "PCMU"}, CALLER if i == 0 else CALLEE) for i in range(legs)],
                    source="192.0.2.10")


def spooled(folder: Path, flushes: int = 3, per_flush: int = 25) -> CallSeal:
    seal = CallSeal.create(MASTER, folder)
    spool.write_info(folder, info(), seal)
    for index in range(2):
        writer = LegWriter(seal, folder, index)
        writer.open()
        for f in range(flushes):
            seqs = range(f * per_flush, (f + 1) * per_flush)
            writer.write(b"".join(RECORD.pack(172, 1000 + 20 * n) + rtp(n, payload(n)) for n in seqs))
        writer.close()
    return seal


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()))


def test_nothing_of_the_call_is_on_disk_in_clear(tmp_path):
    spooled(tmp_path)
    disk = all_bytes(tmp_path)
    for n in range(75):
        assert payload(n)[:16] not in disk
    for text in (CALLER, CALLEE, "cid-1", "192.0.2.10", "PCMU", '"caller"'):
        assert text.encode() not in disk
        assert text.encode("utf-16-le") not in disk
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call.json", "call.key", "leg-0.rtp", "leg-1.rtp"]


def test_the_call_assembles_exactly_from_the_sealed_spool(tmp_path):
    seal = spooled(tmp_path)
    assert spool.read_info(tmp_path, CallSeal.load(MASTER, tmp_path)) == info()
    records = list(spool.records(spool.leg_data(tmp_path, 1, seal)))
    assert [data for _, _, data in records] == [rtp(n, payload(n)) for n in range(75)]
    call = assemble(tmp_path, MASTER, stereo=True, gain=1)
    assert call.pcm.frames == 75 * 160 and call.info.caller == CALLER


def test_a_flush_cut_short_ends_the_leg_at_the_last_whole_one(tmp_path):
    seal = spooled(tmp_path)
    path = spool.leg_path(tmp_path, 0)
    whole = path.read_bytes()
    for cut in (1, 5, 100, len(whole) // 3):
        path.write_bytes(whole[:-cut])
        kept = list(spool.records(spool.leg_data(tmp_path, 0, seal)))
        assert len(kept) == 50, f"cut {cut}: the first two flushes stay whole"


def test_a_damaged_flush_is_left_out_a_moved_one_never_opens(tmp_path):
    seal = spooled(tmp_path)
    path = spool.leg_path(tmp_path, 0)
    whole = bytearray(path.read_bytes())
    frame = 12 + struct.unpack("!I", whole[:4])[0]
    damaged = whole.copy()
    damaged[frame + 40] ^= 1  # a bit of the second flush: half a second lost, not the rest
    path.write_bytes(bytes(damaged))
    seqs = [struct.unpack("!H", d[2:4])[0] for _, _, d in spool.records(spool.leg_data(tmp_path, 0, seal))]
    assert seqs == list(range(25)) + list(range(50, 75))
    # The other leg's first flush put in place of this one's: sealed for another leg.
    other = spool.leg_path(tmp_path, 1).read_bytes()
    path.write_bytes(other[:frame] + bytes(whole[frame:]))
    assert len(list(spool.records(spool.leg_data(tmp_path, 0, seal)))) == 50
    # Flushes swapped within the leg: the second one is out of order and ends the leg.
    path.write_bytes(bytes(whole[frame : 2 * frame]) + bytes(whole[:frame]) + bytes(whole[2 * frame :]))
    assert len(list(spool.records(spool.leg_data(tmp_path, 0, seal)))) == 25
    # Another call's leg file in its place: nothing opens, which is damage, not silence.
    elsewhere = tmp_path / "other"
    spooled(elsewhere)
    path.write_bytes(spool.leg_path(elsewhere, 0).read_bytes())
    with pytest.raises(IntegrityError, match="no flush"):
        spool.leg_data(tmp_path, 0, seal)


def test_nothing_opens_under_another_master_key(tmp_path):
    spooled(tmp_path)
    with pytest.raises(IntegrityError, match="another master key"):
        CallSeal.load(MasterKey(bytes(32)), tmp_path)
    (tmp_path / "call.key").write_bytes(b"RCK1" + bytes(10))
    with pytest.raises(IntegrityError, match="damaged"):
        CallSeal.load(MASTER, tmp_path)


def test_a_tampered_call_json_is_refused(tmp_path):
    seal = spooled(tmp_path)
    raw = bytearray((tmp_path / "call.json").read_bytes())
    raw[-1] ^= 1
    (tmp_path / "call.json").write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        spool.read_info(tmp_path, seal)


def test_a_folder_without_its_key_is_not_trusted(tmp_path):
    """A forged folder in clear (or one spooled by a version before sealing) would
    otherwise become a backdated recording: it is damage, set aside, never stored."""
    (tmp_path / "call.json").write_text(json.dumps(asdict(info(legs=1))))
    spool.leg_path(tmp_path, 0).write_bytes(
        b"".join(RECORD.pack(172, 1000 + 20 * n) + rtp(n, payload(n)) for n in range(10))
    )
    with pytest.raises(IntegrityError, match="key file is missing"):
        assemble(tmp_path, MASTER, stereo=False, gain=1)


class _Refusing:
    """A file that takes part of a write, then refuses (a disk filling up)."""

    def __init__(self, real) -> None:
        self.real, self.calls = real, 0

    def write(self, data) -> int:
        self.calls += 1
        if self.calls == 1:
            return self.real.write(bytes(data[:10]))
        raise OSError(28, "No space left on device")

    def tell(self) -> int:
        return self.real.tell()

    def truncate(self, size: int) -> int:
        return self.real.truncate(size)

    def close(self) -> None:
        self.real.close()


def test_a_flush_the_disk_refuses_is_cut_back_and_the_next_ones_still_open(tmp_path):
    seal = CallSeal.create(MASTER, tmp_path)
    writer = LegWriter(seal, tmp_path, 0)
    writer.open()
    writer.write(b"first")
    real = writer._file
    writer._file = _Refusing(real)  # a fault a real disk gives only when full
    with pytest.raises(OSError):
        writer.write(b"refused")
    writer._file = real
    writer.write(b"third")
    writer.close()
    assert spool.leg_data(tmp_path, 0, seal) == b"firstthird"


def test_the_receiver_survives_a_refused_flush_and_releases_a_leg_it_could_not_open(tmp_path):
    import socket
    import time

    from appliance.capture.rtp.receiver import Leg, RtpReceiver

    receiver = RtpReceiver(flush_seconds=0.05)
    receiver.start()
    try:
        seal = CallSeal.create(MASTER, tmp_path)
        gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gone.bind(("127.0.0.1", 0))
        # Its call's folder was removed before the receiver thread opened it.
        with pytest.raises(OSError):
            receiver.open(Leg(gone, LegWriter(seal, tmp_path / "removed", 0))).result(5)
        assert gone.fileno() == -1, "the socket was released"

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        leg = Leg(sock, LegWriter(seal, tmp_path, 0))
        receiver.open(leg).result(5)
        leg.spool._file = _Refusing(leg.spool._file)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.sendto(rtp(1, payload(1)), sock.getsockname())
        time.sleep(0.3)
        assert receiver.counters.lost_flushes >= 1
        leg.spool._file = leg.spool._file.real
        sender.sendto(rtp(2, payload(2)), sock.getsockname())
        time.sleep(0.3)
        receiver.close([leg]).result(5)
        sender.close()
    finally:
        receiver.stop()
    kept = [data for _, _, data in spool.records(spool.leg_data(tmp_path, 0, seal))]
    assert kept == [rtp(2, payload(2))], "the thread lived on and the next flush opens"
