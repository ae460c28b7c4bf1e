"""The capture spool: calls in progress on disk, so a crash loses at most the last flush.

One folder per call under `<data>/spool/`: `call.json` (who, when, which device, each
stream's codecs) and one `leg-N.rtp` per stream holding the received RTP datagrams as
they came, each behind a small record header with its arrival time. Pause and resume
are records too, so the file alone rebuilds the call's timeline after a crash.

Nothing of the spool is in clear: `call.key` holds a key made for the call, wrapped by
the master key; `call.json` is sealed with it (AES-GCM), and each flush of a leg is one
sealed frame `u32 length | u64 number | ciphertext+tag` whose nonce is (leg, number):
numbers only grow, so frames cannot be reordered, repeated or moved between legs, and a
flush the disk refused leaves a gap in the numbers, never a nonce used twice. A frame cut
short (a power cut mid-write) ends that leg; a damaged one is left out (half a second of
silence) and logged; a leg of which nothing opens, or a folder without its key (forged,
or spooled in clear by an earlier version), is damage the store sets aside.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.errors import IntegrityError
from appliance.media.crypto import MasterKey

log = logging.getLogger(__name__)

RECORD = struct.Struct("!HQ")  # datagram length, arrival in monotonic milliseconds
PAUSE = 0  # a record of length 0: the stream was paused at that time
RESUME = 0xFFFF  # no UDP datagram we keep is this long: the stream resumed
CALL_FILE = "call.json"
KEY_FILE = "call.key"
_KEY_MAGIC = b"RCK1"  # magic | master fingerprint 8 | wrap nonce 12 | wrapped key 48
_FRAME = struct.Struct("!IQ")  # the sealed frame's length and number, before it
_INFO_AAD = b"recorder-spool-call-v1"
_LEG_AAD = b"recorder-spool-leg-v1"


@dataclass
class LegInfo:
    codecs: dict[int, str]  # payload type -> encoding name, from the answer
    party: str = ""  # the speaker's number, when the metadata says


@dataclass
class CallInfo:
    key: str
    call_id: str
    device_id: int | None
    caller: str
    callee: str
    answered_at: str  # ISO 8601, UTC
    answered_ms: int  # monotonic milliseconds at the answer, the same clock as the records
    legs: list[LegInfo] = field(default_factory=list)
    source: str = ""  # the sender's IP, to register it later when device_id is None
    confirmed: bool = False  # an ACK came: kept even without media (the live rule, after a crash)

    @classmethod
    def from_json(cls, data: bytes) -> CallInfo:
        raw = json.loads(data)
        legs = [
            LegInfo({int(pt): name for pt, name in leg["codecs"].items()}, leg.get("party", ""))
            for leg in raw.pop("legs")
        ]
        return cls(legs=legs, **raw)


class CallSeal:
    """The key of one spooled call: seals call.json and every flush of its legs."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def create(cls, master: MasterKey, folder: Path) -> CallSeal:
        """A new key for a new call, wrapped and on disk before anything it seals (see
        sync_key for a power cut)."""
        key = AESGCM.generate_key(bit_length=256)
        nonce, wrapped = master.wrap(key)
        _replace(folder / KEY_FILE, _KEY_MAGIC + master.fingerprint + nonce + wrapped)
        return cls(key)

    @classmethod
    def load(cls, master: MasterKey, folder: Path) -> CallSeal:
        """The call's key: without it nothing in the folder is trusted or opened."""
        try:
            raw = (folder / KEY_FILE).read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"{folder.name}: the call's key file is missing") from None
        if len(raw) != 4 + 8 + 12 + 48 or raw[:4] != _KEY_MAGIC:
            raise IntegrityError(f"{folder.name}: the call's key file is damaged")
        if raw[4:12] != master.fingerprint:
            raise IntegrityError(f"{folder.name}: spooled under another master key")
        return cls(master.unwrap(raw[12:24], raw[24:]))

    def seal_info(self, plain: bytes) -> bytes:
        nonce = os.urandom(12)  # call.json is rewritten: a fresh nonce each time
        return nonce + self._aead.encrypt(nonce, plain, _INFO_AAD)

    def open_info(self, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], _INFO_AAD)
        except InvalidTag:
            raise IntegrityError("the spooled call.json fails authentication") from None

    def seal_frame(self, leg: int, number: int, plain: bytes) -> bytes:
        sealed = self._aead.encrypt(_frame_nonce(leg, number), plain, _LEG_AAD)
        return _FRAME.pack(len(sealed), number) + sealed

    def open_frames(self, leg: int, data: bytes, where: str) -> bytes:
        """The plaintext of a leg file's frames: a damaged one left out, a cut or reordered
        one ending the leg. IntegrityError when there are frames and none opens (another
        call's or leg's file, or garbage)."""
        plain, offset, last, bad = [], 0, -1, 0
        while offset + _FRAME.size <= len(data):
            length, number = _FRAME.unpack_from(data, offset)
            end = offset + _FRAME.size + length
            if end > len(data):
                log.warning("%s: the last flush was cut short; the leg ends before it", where)
                break
            if number <= last:
                log.error("%s: flush %d comes after %d; the leg ends there", where, number, last)
                break
            try:
                piece = self._aead.decrypt(
                    _frame_nonce(leg, number), data[offset + _FRAME.size : end], _LEG_AAD
                )
            except InvalidTag:
                bad += 1
                log.error("%s: flush %d fails authentication; left out", where, number)
                offset = end
                continue
            plain.append(piece)
            offset, last = end, number
        if bad and not plain:
            raise IntegrityError(f"{where}: no flush of this leg opens with its call's key")
        return b"".join(plain)


def _frame_nonce(leg: int, number: int) -> bytes:
    return struct.pack("!IQ", leg + 1, number)


def _replace(path: Path, data: bytes) -> None:
    """Write a small file atomically: a crash leaves the old or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def sync_key(folder: Path) -> None:
    """Put a call's key on stable storage, with its folder's entry: after a power cut its
    flushes are worth nothing without it. Slow under load, so never on the answer's path."""
    try:
        with open(folder / KEY_FILE, "rb") as fh:
            os.fsync(fh.fileno())
        entry = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(entry)
        finally:
            os.close(entry)
    except FileNotFoundError:
        pass  # the call ended and went already


class LegWriter:
    """A leg's spool file as the receiver thread fills it: one sealed frame per flush."""

    def __init__(self, seal: CallSeal, folder: Path, index: int) -> None:
        self.seal = seal
        self.index = index
        self.path = leg_path(folder, index)
        self._file: BinaryIO | None = None
        self._frames = 0

    def open(self) -> None:
        self._file = open(self.path, "ab", buffering=0)

    def write(self, plain: bytes) -> None:
        """Append one sealed frame, whole or not at all: a disk that refuses part of it
        (full) has the file cut back, so the frames after it still open. Raises OSError."""
        if self._file is None:
            return
        frame = self.seal.seal_frame(self.index, self._frames, plain)
        self._frames += 1  # used even if the write fails: a nonce is never sealed twice
        start = self._file.tell()
        try:
            view = memoryview(frame)
            while view:
                written = self._file.write(view)
                if not written:
                    raise OSError(errno.EIO, "the spool file took no bytes")
                view = view[written:]
        except OSError:
            try:
                self._file.truncate(start)
            except OSError:
                pass
            raise

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def leg_path(folder: Path, index: int) -> Path:
    return folder / f"leg-{index}.rtp"


def write_info(folder: Path, info: CallInfo, seal: CallSeal) -> None:
    _replace(folder / CALL_FILE, seal.seal_info(json.dumps(asdict(info)).encode()))


def read_info(folder: Path, seal: CallSeal) -> CallInfo:
    return CallInfo.from_json(seal.open_info((folder / CALL_FILE).read_bytes()))


def leg_data(folder: Path, index: int, seal: CallSeal) -> bytes:
    """A leg's records as written, opened; empty if the leg never got a file."""
    path = leg_path(folder, index)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    return seal.open_frames(index, data, f"{folder.name}/{path.name}")


def records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(length or PAUSE/RESUME, arrival ms, datagram) from a leg file; a record cut short
    by a crash mid-write ends the stream."""
    offset, size = 0, len(data)
    while offset + RECORD.size <= size:
        length, arrival = RECORD.unpack_from(data, offset)
        offset += RECORD.size
        if length in (PAUSE, RESUME):
            yield length, arrival, b""
            continue
        if offset + length > size:
            return
        yield length, arrival, data[offset : offset + length]
        offset += length


def folders(spool: Path) -> list[Path]:
    """Calls left in the spool; a folder without call.json never got answered."""
    if not spool.is_dir():
        return []
    return sorted(p for p in spool.iterdir() if p.is_dir())


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
