"""Backups (the manual's 备份管理 and 备份设置): targets, where they are, the backup log,
and the set format's names and manifest rows. Pure: no keys, no transfers, no storage."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

from appliance.domain.devices import (
    PullEndpoint,
    PullProtocol,
    check_address,
    host_of,
    normal_fingerprint,
)
from appliance.domain.pull import unsafe_name
from appliance.errors import InvalidInput


class TargetKind(StrEnum):
    LOCAL = "LOCAL"
    FTP = "FTP"
    SFTP = "SFTP"
    SMB = "SMB"


class BackupResult(StrEnum):
    DONE = "DONE"  # 已执行
    FAILED = "FAILED"  # 失败
    PARTIAL = "PARTIAL"  # 部分完成


class LogKind(StrEnum):
    BACKUP = "BACKUP"
    IMPORT = "IMPORT"
    DELETE = "DELETE"  # circular recording's deletions, as the manual logs them here


KEEP_MONTHS_MAX = 120  # 0 keeps every set
PASSPHRASE_MIN = 10
PASSPHRASE_MAX = 1024
SMB_PORT = 445
# A set's files: the key file, numbered audio files, manifest parts, the configuration.
KEY_FILE = "key"
CONFIG_FILE = "config.bin"
SET_NAME = re.compile(r"^rset-(\d{8}T\d{6}Z)-[0-9a-f]{8}$")
AUDIO_FILE = re.compile(r"^(\d{8})\.bin$")
MANIFEST_FILE = re.compile(r"^manifest-(\d{6})\.bin$")


def set_name(now: datetime) -> str:
    """A new set's folder name: when it began (UTC) and chance; nothing about its calls."""
    return f"rset-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def set_began(name: str) -> datetime | None:
    found = SET_NAME.match(name)
    if not found:
        return None
    return datetime.strptime(found.group(1), "%Y%m%dT%H%M%S%z")  # "Z": UTC, aware


def audio_name(number: int) -> str:
    return f"{number:08d}.bin"


def manifest_name(part: int) -> str:
    return f"manifest-{part:06d}.bin"


@dataclass(frozen=True)
class TargetLocation:
    """Where a target's sets go: a folder on this machine, a server's folder, or a share."""

    kind: TargetKind
    path: str  # LOCAL: absolute path; FTP/SFTP: folder on the server; SMB: folder in share
    host: str = ""
    port: int = 0
    share: str = ""
    tls: bool = False  # FTP: explicit TLS (ftps://)

    def endpoint(self) -> PullEndpoint:
        """FTP(S) and SFTP targets are reached through the pull clients."""
        if self.kind is TargetKind.SFTP:
            protocol = PullProtocol.SFTP
        else:
            protocol = PullProtocol.FTPS if self.tls else PullProtocol.FTP
        return PullEndpoint(protocol, self.host, self.port, self.path)

    def label(self) -> str:
        """The location as a person reads it, with no password (none is ever in it)."""
        if self.kind is TargetKind.LOCAL:
            return self.path
        if self.kind is TargetKind.SMB:
            port = f":{self.port}" if self.port != SMB_PORT else ""
            tail = "\\" + self.path.replace("/", "\\") if self.path else ""
            return f"\\\\{self.host}{port}\\{self.share}{tail}"
        scheme = "sftp" if self.kind is TargetKind.SFTP else ("ftps" if self.tls else "ftp")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/{self.path.lstrip('/')}"


def _bad_location(message: str) -> InvalidInput:
    return InvalidInput(f"location: {message}", field="location", code="invalid_format")


def _folder_parts(path: str) -> list[str]:
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    for part in parts:
        if unsafe_name(part) or part in (".", ".."):
            raise _bad_location("a folder without '..' or control characters")
    return parts


def parse_location(kind: TargetKind, location: str) -> TargetLocation:
    """A target's location as the administrator writes it: /mnt/backup, ftp://host/dir,
    ftps://host:2121/dir, sftp://host/dir, \\\\host\\share\\dir (or //host/share/dir)."""
    text = location.strip()
    if not text:
        raise InvalidInput("location is required", field="location", code="required")
    if kind is TargetKind.LOCAL:
        if not text.startswith("/"):
            raise _bad_location("an absolute folder, such as /mnt/backup")
        return TargetLocation(kind, "/" + "/".join(_folder_parts(text)))
    if kind is TargetKind.SMB:
        return _parse_share(text)
    if kind is TargetKind.FTP and text.lower().startswith("ftps://"):
        protocol = PullProtocol.FTPS
    else:
        protocol = PullProtocol.SFTP if kind is TargetKind.SFTP else PullProtocol.FTP
    if "://" not in text:
        host, _, folder = text.partition("/")
        text = f"{protocol.value.lower()}://{host}/{folder}"
    try:
        endpoint = PullEndpoint.parse(protocol, text, "")
    except InvalidInput as exc:
        raise InvalidInput(str(exc), field="location", code=exc.code, params=exc.params) from None
    root = "/".join(_folder_parts(endpoint.root))
    return TargetLocation(
        kind,
        ("/" if endpoint.root.startswith("/") else "") + root,
        host=endpoint.host,
        port=endpoint.port,
        tls=protocol is PullProtocol.FTPS,
    )


def _parse_share(text: str) -> TargetLocation:
    if text.lower().startswith("smb://"):
        url = urlsplit(text)
        if url.username or url.password or url.query or url.fragment:
            raise _bad_location("give the user and password in their own fields")
        hostport, rest = url.netloc, unquote(url.path)
    elif text.startswith(("\\\\", "//")):
        hostport, _, rest = text[2:].replace("\\", "/").partition("/")
    else:
        raise _bad_location("a share such as \\\\server\\share\\folder")
    check_address("location", hostport)
    host = host_of(hostport)
    port = int(hostport.rpartition(":")[2]) if hostport.count(":") == 1 else SMB_PORT
    parts = _folder_parts(rest)
    if not parts:
        raise _bad_location("the share's name is missing: \\\\server\\share\\folder")
    return TargetLocation(TargetKind.SMB, "/".join(parts[1:]), host=host, port=port, share=parts[0])


def location_kind(location: str) -> TargetKind:
    """Which kind of place a location names, by its form (for the import command)."""
    text = location.strip().lower()
    if text.startswith(("ftp://", "ftps://")):
        return TargetKind.FTP
    if text.startswith("sftp://"):
        return TargetKind.SFTP
    if text.startswith(("smb://", "\\\\", "//")):
        return TargetKind.SMB
    return TargetKind.LOCAL


@dataclass(frozen=True)
class BackupTargetSpec:
    """What the administrator sets for one target; password None keeps the saved one."""

    kind: TargetKind
    enabled: bool
    location: str
    username: str = ""
    password: str | None = None
    keep_months: int = 12
    disk_limit_percent: int = 90
    tls_fingerprint: str = ""

    def validate(self) -> TargetLocation:
        where = parse_location(self.kind, self.location)
        if not 0 <= self.keep_months <= KEEP_MONTHS_MAX:
            raise InvalidInput(
                "keepMonths is 0 (keep every set) to 120",
                field="keep_months",
                code="out_of_range",
                params={"min": 0, "max": KEEP_MONTHS_MAX},
            )
        if not 1 <= self.disk_limit_percent <= 100:
            raise InvalidInput(
                "diskLimitPercent is 1 to 100",
                field="disk_limit_percent",
                code="out_of_range",
                params={"min": 1, "max": 100},
            )
        if self.kind is not TargetKind.LOCAL and not self.username.strip():
            raise InvalidInput("a user name is needed", field="username", code="required")
        if len(self.username) > 256 or any(not c.isprintable() for c in self.username):
            raise InvalidInput("user name: printable, 256 characters at most", field="username")
        fingerprint = normal_fingerprint(self.tls_fingerprint)
        if fingerprint and not re.fullmatch(r"[0-9a-f]{64}", fingerprint):
            raise InvalidInput(
                "a SHA-256 fingerprint: 64 hexadecimal digits",
                field="tls_fingerprint",
                code="invalid_format",
            )
        return where


def check_passphrase(passphrase: str) -> None:
    if not PASSPHRASE_MIN <= len(passphrase) <= PASSPHRASE_MAX:
        raise InvalidInput(
            f"the backup passphrase has {PASSPHRASE_MIN} to {PASSPHRASE_MAX} characters",
            field="passphrase",
            code="too_short" if len(passphrase) < PASSPHRASE_MIN else "too_long",
            params={"min": PASSPHRASE_MIN, "max": PASSPHRASE_MAX},
        )


@dataclass(frozen=True)
class BackupProblem:
    """One recording (by SN) or file that could not be backed up or imported, and why."""

    subject: str
    reason: str
    detail: str = ""


@dataclass
class RunCounts:
    recordings: int = 0
    voicemails: int = 0
    bytes: int = 0
    skipped: int = 0  # import: already on this appliance
    problems: list[BackupProblem] = field(default_factory=list)

    @property
    def files(self) -> int:
        return self.recordings + self.voicemails


@dataclass(frozen=True)
class BackupLogEntry:
    id: int
    at: datetime
    kind: LogKind
    target: str  # the target's kind (LOCAL, FTP, SFTP, SMB), or "" for a deletion
    result: BackupResult
    recordings: int
    voicemails: int
    bytes: int
    event: str  # what the description says: backup_done, backup_failed, deleted, …
    params: dict[str, Any]


KEYWORD_MAX = 200


@dataclass(frozen=True)
class BackupLogFilter:
    since: datetime | None = None
    until: datetime | None = None
    result: BackupResult | None = None
    keyword: str | None = None

    def checked(self) -> BackupLogFilter:
        if self.since and self.until and self.since > self.until:
            raise InvalidInput("since is after until", field="since", code="out_of_order")
        if self.keyword is not None and (
            len(self.keyword) > KEYWORD_MAX or not self.keyword.isprintable()
        ):
            raise InvalidInput(
                f"keyword: printable, {KEYWORD_MAX} characters at most",
                field="keyword",
                code="too_long",
                params={"max": KEYWORD_MAX},
            )
        return self


def log_search_text(target: str, event: str, params: dict[str, Any]) -> str:
    """What a keyword is matched against: the values the description shows."""
    return " ".join([target, event, *(str(v) for v in params.values())]).lower()


def manifest_line(row: dict[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


# A manifest row's bounds: what an appliance writes, with room; a hostile set's rows beyond
# them are reported and left out, never stored.
ROW_TEXT_MAX = 128
SN_MAX = 64
CALL_ID_MAX = 500
TAGS_MAX = 1000
DURATION_MAX_MS = 7 * 86400 * 1000
FILE_MAX = 4 * 1024**3
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _text(row: dict[str, Any], key: str, limit: int, *, optional: bool = False) -> None:
    value = row[key]
    if optional and value is None:
        return
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise ValueError(f"{key}: text of {limit} printable characters at most")


def _number(row: dict[str, Any], key: str, low: int, high: int, *, optional: bool = False) -> None:
    value = row[key]
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key}: a whole number from {low} to {high}")


def _time(value: Any, key: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{key}: a time")
    at = datetime.fromisoformat(value)
    if at.tzinfo is None or not 1970 <= at.year <= 9998:  # then UTC is within range too
        raise ValueError(f"{key}: a time with its offset, 1970 to 9998")


def check_manifest_row(row: Any, kinds: set[str], directions: set[str], formats: set[str]) -> None:
    """Raise ValueError (KeyError, TypeError) saying what is wrong with a row."""
    if not isinstance(row, dict):
        raise ValueError("not an object")
    _text(row, "sn", SN_MAX)
    if not row["sn"] or not re.fullmatch(r"[A-Za-z0-9_+*#.-]+", row["sn"]):
        raise ValueError("sn: letters, digits and _ + * # . - only")
    _text(row, "call_id", CALL_ID_MAX)
    for key in ("caller", "callee", "device", "device_address", "source"):
        _text(row, key, ROW_TEXT_MAX)
    for key in ("caller_org", "callee_org"):
        _text(row, key, ROW_TEXT_MAX, optional=True)
    if row["kind"] not in kinds or (
        row["direction"] is not None and row["direction"] not in directions
    ):
        raise ValueError("kind or direction unknown")
    if row["file_format"] not in formats:
        raise ValueError("file_format unknown")
    _time(row["started_at"], "started_at")
    _time(row["created_at"], "created_at")
    _number(row, "duration_ms", 0, DURATION_MAX_MS)
    _number(row, "duration", 0, DURATION_MAX_MS // 1000 + 1)
    _number(row, "score", 0, 100, optional=True)
    _number(row, "play_count", 0, 2**31 - 1)
    _number(row, "size", 0, FILE_MAX)
    if not isinstance(row["protected"], bool):
        raise ValueError("protected: true or false")
    if not isinstance(row["sha256"], str) or not _SHA256.match(row["sha256"]):
        raise ValueError("sha256: 64 hexadecimal digits")
    if not isinstance(row["file"], str) or not AUDIO_FILE.match(row["file"]):
        raise ValueError("file: a set's numbered audio file")
    tags = row["tags"]
    if not isinstance(tags, list) or len(tags) > TAGS_MAX:
        raise ValueError(f"tags: a list of {TAGS_MAX} at most")
    names = set()
    for tag in tags:
        if not isinstance(tag, dict):
            raise ValueError("tags: objects")
        _text(tag, "name", ROW_TEXT_MAX)
        offset = tag["offset"]
        if offset is not None and (
            isinstance(offset, bool)
            or not isinstance(offset, int | float)
            or not 0 <= offset <= 1e7
        ):
            raise ValueError("tags: an offset in seconds")
        _time(tag["at"], "tags.at")
        names.add(tag["name"])
    if len(names) != len(tags):
        raise ValueError("tags: a name twice")
