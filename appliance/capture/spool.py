"""The capture spool: calls in progress on disk, so a crash loses at most the last flush.

One folder per call under `<data>/spool/`: `call.json` (who, when, which device, each
stream's codecs) and one `leg-N.rtp` per stream holding the received RTP datagrams as
they came, each behind a small record header with its arrival time. Pause and resume
are records too, so the file alone rebuilds the call's timeline after a crash.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

RECORD = struct.Struct("!HQ")  # datagram length, arrival in monotonic milliseconds
PAUSE = 0  # a record of length 0: the stream was paused at that time
RESUME = 0xFFFF  # no UDP datagram we keep is this long: the stream resumed
CALL_FILE = "call.json"


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

    @classmethod
    def from_json(cls, data: bytes) -> CallInfo:
        raw = json.loads(data)
        legs = [
            LegInfo({int(pt): name for pt, name in leg["codecs"].items()}, leg.get("party", ""))
            for leg in raw.pop("legs")
        ]
        return cls(legs=legs, **raw)


def leg_path(folder: Path, index: int) -> Path:
    return folder / f"leg-{index}.rtp"


def write_info(folder: Path, info: CallInfo) -> None:
    """Replace call.json atomically: a crash leaves the old or the new one, never half."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (CALL_FILE + ".tmp")
    tmp.write_bytes(json.dumps(asdict(info)).encode())
    os.replace(tmp, folder / CALL_FILE)


def read_info(folder: Path) -> CallInfo:
    return CallInfo.from_json((folder / CALL_FILE).read_bytes())


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
