"""A PBX's recording folders as FreePBX, Asterisk voicemail and Grandstream write them, with
what each recording must become, and the entries that must be refused."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.media.mp3 import write_mp3
from appliance.media.pcm import Pcm
from tests.support.audio import tone_pcm, wav_bytes

DAY = "monitor/2025/03/27"
OLD = time.time() - 3600  # settled: older than the minute a PBX may still be writing


@dataclass(frozen=True)
class Expected:
    path: str
    caller: str
    callee: str
    local: str  # the start as the appliance's wall clock, YYYY-MM-DD HH:MM:SS ("" for UTC)
    utc: str  # or as UTC (epoch-named files)
    seconds: int
    kind: str
    direction: str | None


def _wav(seconds: float, freq: float = 440.0) -> bytes:
    return wav_bytes(tone_pcm(seconds, 8000, freq), 8000)


def _gsm(seconds: float, target: Path, wav49: bool) -> None:
    """GSM 6.10 as Asterisk writes it: wav49 (in WAV, upper-case .WAV) or raw .gsm (sox)."""
    source = target.with_suffix(".src.wav")
    source.write_bytes(_wav(seconds, 350.0))
    args = ["-t", "wav", "-e", "gsm-full-rate"] if wav49 else ["-t", "gsm"]
    subprocess.run(["sox", str(source), *args, str(target)], check=True)
    source.unlink()


def _calls() -> list[tuple[str, str, str, str, str, int, str | None]]:
    """(name, caller, callee, date, time, seconds, direction) of FreePBX's own names."""
    return [
        ("in-2001-13800138000-20250327-101517-1743042917.12206.wav",
         "13800138000", "2001", "2025-03-27", "10:15:17", 2, "in"),
        ("out-13900139000-2002-20250327-101600-1743042960.12210.wav",
         "2002", "13900139000", "2025-03-27", "10:16:00", 3, "out"),
        ("internal-2003-2001-20250327-101700-1743043020.12220.wav",
         "2001", "2003", "2025-03-27", "10:17:00", 2, "internal"),
        ("external-2004-13700137000-20250327-101800-1743043080.12230.wav",
         "13700137000", "2004", "2025-03-27", "10:18:00", 2, "in"),
        ("q-600-13600136000-20250327-101900-1743043140.12240.wav",
         "13600136000", "600", "2025-03-27", "10:19:00", 2, None),
        ("rg-601-13500135000-20250327-102000-1743043200.12250.wav",
         "13500135000", "601", "2025-03-27", "10:20:00", 2, None),
        ("parked-70-2001-20250327-102100-1743043260.12260.wav",
         "2001", "70", "2025-03-27", "10:21:00", 2, None),
        ("generic-2005-2001-20250327-102200-1743043320.12270.wav",
         "2001", "2005", "2025-03-27", "10:22:00", 2, None),
        ("ondemand-2006-2001-20250327-102300-1743043380.12280.wav",
         "2001", "2006", "2025-03-27", "10:23:00", 2, None),
        # FreePBX 2.x and Issabel
        ("exten-2008-2001-20250327-102400-1743043440.12290.wav",
         "2001", "2008", "2025-03-27", "10:24:00", 2, "internal"),
        ("force-2009-2001-20250327-102500-1743043500.12300.wav",
         "2001", "2009", "2025-03-27", "10:25:00", 2, None),
        ("page-2010-2001-20250327-102600-1743043560.12310.wav",
         "2001", "2010", "2025-03-27", "10:26:00", 2, None),
        ("conf-8001-2001-20250327-102700-1743043620.12320.wav",
         "2001", "8001", "2025-03-27", "10:27:00", 2, None),
        # The conference form: <room>-<room>-always-…
        ("8000-8000-always-20250327-110000-1743046800.5.wav",
         "8000", "8000", "2025-03-27", "11:00:00", 3, None),
    ]  # fmt: skip


def build(root: Path, outside: Path) -> list[Expected]:
    """Write the tree under root; outside is a folder beside it that a link leads into."""
    expected: list[Expected] = []
    day = root / DAY
    day.mkdir(parents=True)
    for name, caller, callee, date, clock, seconds, direction in _calls():
        (day / name).write_bytes(_wav(seconds))
        expected.append(
            Expected(f"{DAY}/{name}", caller, callee, f"{date} {clock}", "", seconds, "call",
                     direction)
        )  # fmt: skip
    # Asterisk's wav49 (GSM in WAV, upper-case), raw GSM, and MP3.
    name = "in-2011-13400134000-20250327-103000-1743043800.12400.WAV"
    _gsm(4, day / name, wav49=True)
    expected.append(Expected(f"{DAY}/{name}", "13400134000", "2011", "2025-03-27 10:30:00", "",
                             4, "call", "in"))  # fmt: skip
    name = "out-13300133000-2012-20250327-103100-1743043860.12410.gsm"
    _gsm(3, day / name, wav49=False)
    expected.append(Expected(f"{DAY}/{name}", "2012", "13300133000", "2025-03-27 10:31:00", "",
                             3, "call", "out"))  # fmt: skip
    name = "internal-2013-2002-20250327-103200-1743043920.12420.mp3"
    (day / name).write_bytes(write_mp3(Pcm(tone_pcm(3, 8000), 8000, 1)))
    expected.append(Expected(f"{DAY}/{name}", "2002", "2013", "2025-03-27 10:32:00", "", 3,
                             "call", "internal"))  # fmt: skip
    # A call that began before midnight, in the folder of the day it began.
    name = "in-2014-13200132000-20250327-235950-1743091190.9.wav"
    (day / name).write_bytes(_wav(20))
    expected.append(Expected(f"{DAY}/{name}", "13200132000", "2014", "2025-03-27 23:59:50", "",
                             20, "call", "in"))  # fmt: skip
    next_day = root / "monitor/2025/03/28"
    next_day.mkdir(parents=True)
    name = "out-13100131000-2015-20250328-000005-1743091205.10.wav"
    (next_day / name).write_bytes(_wav(2))
    expected.append(Expected(f"monitor/2025/03/28/{name}", "2015", "13100131000",
                             "2025-03-28 00:00:05", "", 2, "call", "out"))  # fmt: skip
    # Grandstream UCM: auto-<epoch>-<caller>-<callee>
    name = "auto-1743050000-2016-2017.wav"
    (day / name).write_bytes(_wav(2))
    expected.append(Expected(f"{DAY}/{name}", "2016", "2017", "", "2025-03-27 04:33:20", 2,
                             "call", None))  # fmt: skip
    # Voicemail: one message in two formats with its text; another in Old as .gsm.
    inbox = root / "voicemail/default/2001/INBOX"
    inbox.mkdir(parents=True)
    (inbox / "msg0000.wav").write_bytes(_wav(3))
    _gsm(3, inbox / "msg0000.WAV", wav49=True)
    (inbox / "msg0000.txt").write_text(
        ";\n; Message Information file\n;\n[message]\norigmailbox=2001\ncontext=macro-vm\n"
        'callerid="Alice Chen" <13000130000>\norigdate=Thu Mar 27 09:00:00 AM UTC 2025\n'
        "origtime=1743066000\nduration=3\n"
    )
    expected.append(Expected("voicemail/default/2001/INBOX/msg0000.wav", "13000130000", "2001",
                             "", "2025-03-27 09:00:00", 3, "voicemail", "in"))  # fmt: skip
    old = root / "voicemail/default/2001/Old"
    old.mkdir(parents=True)
    _gsm(2, old / "msg0003.gsm", wav49=False)
    (old / "msg0003.txt").write_text("[message]\ncallerid=2002\norigtime=1743070000\n")
    expected.append(Expected("voicemail/default/2001/Old/msg0003.gsm", "2002", "2001", "",
                             "2025-03-27 10:06:40", 2, "voicemail", "in"))  # fmt: skip
    (root / "voicemail/default/2001/unavail.wav").write_bytes(_wav(1))  # a greeting
    # What must be refused: an unknown name, a truncated file, a control character in a
    # name, a link out of the root.
    (day / "holiday-music.wav").write_bytes(_wav(1))
    whole = _wav(2)
    (day / "in-2018-13900000000-20250327-104000-1743044400.12500.wav").write_bytes(whole[:44])
    (day / "in-2019-1390\x01-20250327-104100-1743044460.12510.wav").write_bytes(_wav(1))
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.wav").write_bytes(_wav(2))
    # Settled like the rest, so that whether it is fetched never depends on the clock.
    os.utime(outside / "secret.wav", (OLD, OLD))
    os.symlink(outside / "secret.wav", day / "in-2020-13900000001-20250327-104200-1743044520.1.wav")
    for folder, _, files in os.walk(root):
        for file in files:
            path = Path(folder) / file
            if not path.is_symlink():
                os.utime(path, (OLD, OLD))
    return expected


REFUSED = {
    f"{DAY}/holiday-music.wav": "unrecognised_name",
    "voicemail/default/2001/unavail.wav": "unrecognised_name",
    f"{DAY}/in-2018-13900000000-20250327-104000-1743044400.12500.wav": "undecodable",
}
CONTROL_NAME = f"{DAY}/in-2019-1390\\x01-20250327-104100-1743044460.12510.wav"
LINK_NAME = f"{DAY}/in-2020-13900000001-20250327-104200-1743044520.1.wav"
