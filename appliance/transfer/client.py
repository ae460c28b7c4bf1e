"""The one interface every protocol offers, the bounded walk over a device's folder, and
choosing the protocol's client."""

from __future__ import annotations

import io
from collections import deque
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from appliance.domain.backup import TargetKind, TargetLocation
from appliance.domain.devices import PullEndpoint, PullProtocol
from appliance.domain.pull import (
    LIST_DEPTH_MAX,
    LIST_ENTRIES_MAX,
    PullProblem,
    PullReason,
    unsafe_name,
)
from appliance.errors import TransferFailed

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RemoteEntry:
    """One name in a remote folder, as its server lists it."""

    name: str
    is_dir: bool
    size: int | None
    mtime: float | None  # seconds since the epoch
    is_link: bool = False


@dataclass(frozen=True)
class RemoteFile:
    path: str  # below the device's folder, "/"-joined
    size: int
    mtime: float | None


@dataclass
class Listing:
    files: list[RemoteFile] = field(default_factory=list)
    problems: list[PullProblem] = field(default_factory=list)
    truncated: bool = False  # the entry bound was reached


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    private_key: str = ""  # OpenSSH private key (SFTP with a key)
    tls_fingerprint: str = ""  # SHA-256 of the one certificate to trust, 64 hex digits
    host_key: str = ""  # SFTP: the pinned "SHA256:…" fingerprint, "" before the first use


class Sink(Protocol):
    """Where a download's bytes go: a file, or the sealed partial of a resumable fetch."""

    def write(self, data: bytes, /) -> int: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def truncate(self, size: int | None = None, /) -> int: ...


class TransferClient(Protocol):
    """A signed-in connection to one device's folder; paths are below that folder."""

    host_key: str  # SFTP: the server's key fingerprint; "" for the others

    def list_dir(self, path: str) -> list[RemoteEntry]: ...

    def resolves_inside(self, path: str) -> bool:
        """Whether a link at path leads to somewhere inside the device's folder."""
        ...

    def stat(self, path: str) -> RemoteFile | None: ...

    def download(self, path: str, sink: Sink, offset: int = 0, size: int | None = None) -> None:
        """Write the file's bytes from offset on into sink (positioned at offset); size is
        what the listing said (the sink refuses more)."""
        ...

    def delete(self, path: str) -> None: ...

    def move(self, path: str, folder: str) -> None:
        """Move path into folder (below the device's folder), making the folder if needed."""
        ...

    def close(self) -> None: ...


class TargetClient(TransferClient, Protocol):
    """A backup target's folder: written to as well as read."""

    def make_dirs(self, path: str) -> None:
        """Make path and the folders above it (below the target's folder) if missing."""
        ...

    def upload(self, path: str, source: BinaryIO) -> None: ...

    def remove_dir(self, path: str) -> None:
        """Remove an empty folder."""
        ...

    def space(self) -> tuple[int, int] | None:
        """(total, available) bytes where the target's folder lies; None if not known."""
        ...


def connect_target(location: TargetLocation, credentials: Credentials) -> TargetClient:
    """Sign in to a backup target; raises TransferFailed saying why not."""
    if location.kind is TargetKind.LOCAL:
        from appliance.transfer.local import LocalClient

        return LocalClient(location.path)
    if location.kind is TargetKind.SMB:
        from appliance.transfer.smb import SmbClient

        return SmbClient(location, credentials)
    if location.kind is TargetKind.SFTP:
        from appliance.transfer.sftp import SftpClient

        return SftpClient(location.endpoint(), credentials)
    from appliance.transfer.ftp import FtpClient

    return FtpClient(location.endpoint(), credentials)


def connect(endpoint: PullEndpoint, credentials: Credentials) -> TransferClient:
    """Sign in; raises TransferFailed saying why not."""
    if endpoint.protocol in (PullProtocol.FTP, PullProtocol.FTPS):
        from appliance.transfer.ftp import FtpClient

        return FtpClient(endpoint, credentials)
    if endpoint.protocol is PullProtocol.SFTP:
        from appliance.transfer.sftp import SftpClient

        return SftpClient(endpoint, credentials)
    from appliance.transfer.http import HttpClient

    return HttpClient(endpoint, credentials)


def walk(
    client: TransferClient,
    *,
    skip_dir: str = "",
    max_entries: int = LIST_ENTRIES_MAX,
    max_depth: int = LIST_DEPTH_MAX,
) -> Listing:
    """Every file below the device's folder, breadth first, within the bounds; names that
    must not be used and links leading out are reported, never followed."""
    listing = Listing()
    queue: deque[tuple[str, int]] = deque([("", 0)])
    seen = 0
    while queue:
        folder, depth = queue.popleft()
        for entry in client.list_dir(folder):
            path = f"{folder}/{entry.name}" if folder else entry.name
            seen += 1
            if seen > max_entries:
                listing.truncated = True
                listing.problems.append(PullProblem(folder or "/", PullReason.TOO_MANY))
                return listing
            refused = unsafe_name(entry.name)
            if refused:
                listing.problems.append(PullProblem(_printable(path), refused))
                continue
            if entry.is_link and not client.resolves_inside(path):
                listing.problems.append(PullProblem(path, PullReason.OUTSIDE_ROOT))
                continue
            if entry.is_dir:
                if path == skip_dir:
                    continue
                if depth + 1 > max_depth:
                    listing.problems.append(PullProblem(path, PullReason.TOO_DEEP))
                    continue
                queue.append((path, depth + 1))
            elif entry.size is not None:
                listing.files.append(RemoteFile(path, entry.size, entry.mtime))
            else:
                found = client.stat(path)
                if found is not None:
                    listing.files.append(found)
    return listing


def folder_steps(root: str, below: str) -> list[str]:
    """The folders to make, outermost first, for `below` (a "/"-joined path under root)."""
    parts = [p for p in below.split("/") if p]
    base = root.rstrip("/")
    return [
        f"{base}/{'/'.join(parts[:i])}" if base else "/".join(parts[:i])
        for i in range(1, len(parts) + 1)
    ]


def _printable(path: str) -> str:
    """A refused name as it may be shown: control characters as \\xNN."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in path)[:300]


class LimitedBuffer(io.BytesIO):
    """A sink for a small file (a voicemail's .txt) that refuses more than limit bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.limit:
            raise TransferFailed("too_large", f"more than {self.limit} bytes")
        return super().write(data)


def read_small(client: TransferClient, path: str, limit: int) -> bytes:
    buffer = LimitedBuffer(limit)
    client.download(path, buffer)
    return buffer.getvalue()
