"""Pulled files (manual 4.1, 录音抓取): which remote names are recordings, what their names
say (parties, time, direction), and which names are refused before anything is fetched.

Layouts, tried in this order:
- the device's own pattern, if it has one;
- FreePBX 13-17 `<type>-<dst>-<src>-<YYYYMMDD>-<HHMMSS>-<uniqueid>.<ext>`, its conference
  form `<room>-<room>-always-…`, and FreePBX 2.x / Issabel (`exten-`, `out-`, `force-`,
  `conf-`, `page-`, same shape);
- Asterisk voicemail `…/<context>/<mailbox>/<folder>/msgNNNN.<fmt>` with its `msgNNNN.txt`;
- Grandstream UCM `auto-<epoch>-<caller>-<callee>.<ext>`.
The extension is what follows the last dot only: a FreePBX uniqueid holds a dot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from appliance.domain.recordings import Direction, RecordingKind, clean_party
from appliance.errors import InvalidInput

# Bounds on what one listing may cost, whatever a device serves.
LIST_DEPTH_MAX = 8
LIST_ENTRIES_MAX = 200_000
NAME_MAX = 255
PATTERN_MAX = 200
# A file younger than this may still be written by the PBX: it waits for the next run.
SETTLE_SECONDS = 60

# Extensions a PBX writes, and how their audio is held. Upper-case .WAV is Asterisk's
# wav49: GSM 6.10 in a WAV file.
AUDIO_EXTENSIONS = {"wav": "wav", "WAV": "wav49", "wav49": "wav49", "gsm": "gsm", "mp3": "mp3"}
_PREFERRED = ("wav", "WAV", "wav49", "mp3", "gsm")  # one voicemail message, several formats


class AfterFetch(StrEnum):
    """What happens to the source once its recording is stored (off by default)."""

    KEEP = "KEEP"
    DELETE = "DELETE"
    MOVE = "MOVE"


class PullAuth(StrEnum):
    PASSWORD = "PASSWORD"
    KEY = "KEY"  # SFTP: the appliance's own key pair


class PullReason(StrEnum):
    """Why a remote entry is not fetched; the console words each in its language."""

    UNSAFE_NAME = "unsafe_name"  # .., absolute, NUL or control characters
    OUTSIDE_ROOT = "outside_root"  # a link leading out of the device's folder
    NAME_TOO_LONG = "name_too_long"
    TOO_DEEP = "too_deep"
    TOO_MANY = "too_many_entries"
    UNRECOGNISED = "unrecognised_name"
    NOT_AUDIO = "not_audio"
    TOO_LARGE = "too_large"
    UNDECODABLE = "undecodable"
    TRANSFER_FAILED = "transfer_failed"
    CHANGED = "changed_while_fetched"
    NO_COMPANION = "voicemail_without_txt"
    STORE_FAILED = "store_failed"
    AFTER_FETCH_FAILED = "after_fetch_failed"
    BAD_TIME = "time_out_of_range"


@dataclass(frozen=True)
class PullProblem:
    path: str
    reason: PullReason
    detail: str = ""


@dataclass(frozen=True)
class PullCounts:
    """The manual's figures for one run, plus its problems (bounded)."""

    fetched: int = 0
    already_had: int = 0
    waiting: int = 0
    unrecognised: int = 0
    failed: int = 0
    problems: tuple[PullProblem, ...] = ()

    PROBLEMS_KEPT = 200

    def plus(self, field: str, problem: PullProblem | None = None) -> PullCounts:
        counts = replace(self, **{field: getattr(self, field) + 1})
        if problem is not None and len(counts.problems) < self.PROBLEMS_KEPT:
            counts = replace(counts, problems=(*counts.problems, problem))
        return counts


@dataclass(frozen=True)
class PulledCall:
    """What a recognised name says about its recording."""

    caller: str
    callee: str
    started_at: datetime  # aware; naive wall-clock times are made aware by the caller
    kind: RecordingKind
    direction: Direction | None
    layout: str
    local_time: bool  # True: started_at is the PBX's wall clock (the appliance's zone)
    companion: str = ""  # a voicemail's msgNNNN.txt, read before the audio is stored


def unsafe_name(name: str) -> PullReason | None:
    """Why a name from a listing must not be used, or None."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        return PullReason.UNSAFE_NAME
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return PullReason.UNSAFE_NAME
    if len(name.encode()) > NAME_MAX:
        return PullReason.NAME_TOO_LONG
    return None


def safe_relpath(relpath: str) -> PullReason | None:
    """A path below the device's folder, as a listing reported it (parts joined by '/')."""
    if relpath.startswith("/"):
        return PullReason.UNSAFE_NAME
    parts = relpath.split("/")
    if len(parts) > LIST_DEPTH_MAX + 1:
        return PullReason.TOO_DEEP
    for part in parts:
        refused = unsafe_name(part)
        if refused:
            return refused
    return None


def split_extension(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, ext) if dot else (name, "")


_FREEPBX_TYPES = {
    "in": Direction.IN,
    "external": Direction.IN,
    "out": Direction.OUT,
    "internal": Direction.INTERNAL,
    "exten": Direction.INTERNAL,
    "q": None,
    "rg": None,
    "parked": None,
    "generic": None,
    "ondemand": None,
    "force": None,
    "conf": None,
    "page": None,
}
_STAMP = r"(?P<date>\d{8})-(?P<time>\d{6})-(?P<uid>\d+(?:\.\d+)?)"
_FREEPBX = re.compile(
    r"^(?P<type>" + "|".join(_FREEPBX_TYPES) + r")-(?P<dst>[^-]*)-(?P<src>.*?)-" + _STAMP + "$"
)
_CONFERENCE = re.compile(r"^(?P<room>[^-]+)-(?P=room)-always-" + _STAMP + "$")
_GRANDSTREAM = re.compile(r"^auto-(?P<epoch>\d{9,11})-(?P<src>[^-]*)-(?P<dst>.*)$")
_VOICEMAIL = re.compile(r"^msg(?P<n>\d{4})$")
_VOICEMAIL_FOLDERS = {"INBOX", "Old", "Work", "Family", "Friends", "Urgent"}


def _wall_clock(date: str, time: str) -> datetime | None:
    try:
        return datetime.strptime(date + time, "%Y%m%d%H%M%S")
    except ValueError:
        return None


def _from_epoch(text: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _freepbx(stem: str) -> PulledCall | None:
    m = _FREEPBX.match(stem)
    if m:
        at = _wall_clock(m["date"], m["time"])
        if at is None:
            return None
        return PulledCall(
            caller=clean_party(m["src"]),
            callee=clean_party(m["dst"]),
            started_at=at,
            kind=RecordingKind.CALL,
            direction=_FREEPBX_TYPES[m["type"]],
            layout="freepbx",
            local_time=True,
        )
    m = _CONFERENCE.match(stem)
    if m:
        at = _wall_clock(m["date"], m["time"])
        if at is None:
            return None
        room = clean_party(m["room"])
        return PulledCall(room, room, at, RecordingKind.CALL, None, "freepbx-conference", True)
    return None


def _grandstream(stem: str) -> PulledCall | None:
    m = _GRANDSTREAM.match(stem)
    at = _from_epoch(m["epoch"]) if m else None
    if m is None or at is None:
        return None
    return PulledCall(
        clean_party(m["src"]), clean_party(m["dst"]), at, RecordingKind.CALL, None,
        "grandstream", False,
    )  # fmt: skip


def _voicemail(parts: list[str], stem: str) -> PulledCall | None:
    # …/<context>/<mailbox>/<folder>/msgNNNN
    if not _VOICEMAIL.match(stem) or len(parts) < 4 or parts[-2] not in _VOICEMAIL_FOLDERS:
        return None
    mailbox = clean_party(parts[-3])
    companion = "/".join([*parts[:-1], stem + ".txt"])
    # Parties and time come from the companion; until it is read, these stand.
    return PulledCall(
        "", mailbox, datetime(1970, 1, 1, tzinfo=UTC), RecordingKind.VOICEMAIL,
        Direction.IN, "voicemail", False, companion,
    )  # fmt: skip


@dataclass(frozen=True)
class Recognised:
    call: PulledCall
    audio: str  # "wav", "wav49", "gsm", "mp3": how the file holds its audio


def recognise(relpath: str, pattern: NamePattern | None = None) -> Recognised | PullReason:
    """What the name at relpath says, or why it is not stored (nothing is made up)."""
    parts = relpath.split("/")
    stem, ext = split_extension(parts[-1])
    audio = AUDIO_EXTENSIONS.get(ext)
    if audio is None:
        return PullReason.NOT_AUDIO
    found = pattern.match(stem) if pattern else None
    found = found or _freepbx(stem) or _voicemail(parts, stem) or _grandstream(stem)
    return Recognised(found, audio) if found else PullReason.UNRECOGNISED


def voicemail_siblings(relpaths: list[str]) -> set[str]:
    """Of one message stored in several formats (msg0000.wav and .WAV and .gsm), the
    paths to leave: the best format is fetched, the rest are the same message."""
    best: dict[str, str] = {}
    for path in relpaths:
        stem, ext = split_extension(path)
        if ext not in AUDIO_EXTENSIONS or not _VOICEMAIL.match(stem.rpartition("/")[2]):
            continue
        held = best.get(stem)
        if held is None or _PREFERRED.index(ext) < _PREFERRED.index(split_extension(held)[1]):
            best[stem] = path
    keep = set(best.values())
    return {
        p
        for p in relpaths
        if split_extension(p)[0] in best and p not in keep and split_extension(p)[1] in _PREFERRED
    }


_CALLERID_NUMBER = re.compile(r"<([^>]*)>")


def with_voicemail_text(call: PulledCall, text: str) -> PulledCall | None:
    """A voicemail's parties and time from its msgNNNN.txt ([message] callerid=,
    origtime=, origmailbox=); None when the text lacks its time."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    at = _from_epoch(fields.get("origtime", ""))
    if at is None:
        return None
    callerid = fields.get("callerid", "")
    m = _CALLERID_NUMBER.search(callerid)
    number = m[1] if m else callerid.strip().strip('"')
    mailbox = clean_party(fields.get("origmailbox", "")) or call.callee
    return replace(call, caller=clean_party(number), callee=mailbox, started_at=at)


_PLACEHOLDERS = {
    "caller": r"(?P<caller>[^/]*?)",
    "callee": r"(?P<callee>[^/]*?)",
    "YYYY": r"(?P<YYYY>\d{4})",
    "MM": r"(?P<MM>\d{2})",
    "DD": r"(?P<DD>\d{2})",
    "hh": r"(?P<hh>\d{2})",
    "mm": r"(?P<mm>\d{2})",
    "ss": r"(?P<ss>\d{2})",
    "epoch": r"(?P<epoch>\d{9,11})",
    "any": r".*?",
}
_WALL = ("YYYY", "MM", "DD", "hh", "mm", "ss")
_FIELD = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class NamePattern:
    """A device's own naming, matched against the file name without its extension, e.g.
    `{YYYY}{MM}{DD}-{hh}{mm}{ss}_{caller}_{callee}`."""

    text: str
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, text: str, field: str = "pull_pattern") -> NamePattern:
        if len(text) > PATTERN_MAX or not text.isprintable() or "/" in text:
            raise InvalidInput(
                f"{field}: a file name pattern, at most {PATTERN_MAX} characters, no '/'",
                field=field,
                params={"max": PATTERN_MAX},
            )
        names: list[str] = []
        regex, at = "", 0
        for m in _FIELD.finditer(text):
            name = m[1]
            if name not in _PLACEHOLDERS:
                raise InvalidInput(
                    f"{field}: unknown field {{{name}}}",
                    field=field,
                    code="unknown_field",
                    params={"value": name},
                )
            if name in names and name != "any":
                raise InvalidInput(
                    f"{field}: {{{name}}} appears twice",
                    field=field,
                    code="duplicate_field",
                    params={"value": name},
                )
            names.append(name)
            regex += re.escape(text[at : m.start()]) + _PLACEHOLDERS[name]
            at = m.end()
        rest = text[at:]
        if "{" in rest or "}" in rest:
            raise InvalidInput(f"{field}: an unclosed {{", field=field, code="invalid_format")
        regex += re.escape(rest)
        has_wall = all(n in names for n in _WALL)
        if not ({"caller", "callee"} & set(names)) or not (has_wall or "epoch" in names):
            raise InvalidInput(
                f"{field}: needs {{caller}} or {{callee}}, and {{epoch}} or all of"
                " {YYYY}{MM}{DD}{hh}{mm}{ss}",
                field=field,
                code="incomplete_pattern",
            )
        return cls(text, re.compile("^" + regex + "$"))

    def match(self, stem: str) -> PulledCall | None:
        m = self.regex.match(stem)
        if m is None:
            return None
        groups = m.groupdict()
        if groups.get("epoch"):
            at, local = _from_epoch(groups["epoch"]), False
        else:
            at = _wall_clock(
                groups["YYYY"] + groups["MM"] + groups["DD"],
                groups["hh"] + groups["mm"] + groups["ss"],
            )
            local = True
        if at is None:
            return None
        return PulledCall(
            clean_party(groups.get("caller") or ""),
            clean_party(groups.get("callee") or ""),
            at,
            RecordingKind.CALL,
            None,
            "pattern",
            local,
        )
