"""SFTP through paramiko: a password or the appliance's own key, and the server's host key
pinned at the first successful sign-in (a changed key stops the device)."""

from __future__ import annotations

import base64
import hashlib
import io
import posixpath
import socket
import stat
from typing import BinaryIO

import paramiko
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY

from appliance.domain.devices import PullEndpoint
from appliance.errors import TransferFailed
from appliance.transfer.client import (
    TIMEOUT_S,
    Credentials,
    RemoteEntry,
    RemoteFile,
    Sink,
    folder_steps,
)

BLOCK = 64 * 1024


def host_key_fingerprint(key: paramiko.PKey) -> str:
    """As OpenSSH prints it: SHA256:<base64 without padding>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _failure(exc: Exception) -> TransferFailed:
    if isinstance(exc, paramiko.AuthenticationException):
        return TransferFailed("auth_failed", str(exc) or "the server refused the sign-in")
    if isinstance(exc, FileNotFoundError) or (isinstance(exc, OSError) and exc.errno == 2):
        return TransferFailed("not_found", str(exc))
    if isinstance(exc, socket.timeout | TimeoutError):
        return TransferFailed("timeout", str(exc))
    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        return TransferFailed("connect_failed", str(exc))
    return TransferFailed("protocol_error", f"{type(exc).__name__}: {exc}")


class SftpClient:
    def __init__(self, endpoint: PullEndpoint, credentials: Credentials) -> None:
        try:
            sock = socket.create_connection((endpoint.host, endpoint.port), timeout=TIMEOUT_S)
        except OSError as exc:
            raise _failure(exc) from exc
        self.transport = paramiko.Transport(sock)
        try:
            self.transport.start_client(timeout=TIMEOUT_S)
            self.host_key = host_key_fingerprint(self.transport.get_remote_server_key())
            if credentials.host_key and credentials.host_key != self.host_key:
                # Before any password or signature: the server may not be the PBX.
                raise TransferFailed(
                    "host_key_changed",
                    f"the server's key is {self.host_key}, {credentials.host_key} was trusted",
                    found=self.host_key,
                )
            if credentials.private_key:
                key = paramiko.Ed25519Key.from_private_key(io.StringIO(credentials.private_key))
                self.transport.auth_publickey(credentials.username, key)
            else:
                self.transport.auth_password(credentials.username, credentials.password)
            self.sftp = paramiko.SFTPClient.from_transport(self.transport)
            if self.sftp is None:
                raise TransferFailed("protocol_error", "the server offers no SFTP")
            self.sftp.get_channel().settimeout(TIMEOUT_S)
            home = self.sftp.normalize(".")
            self.root = posixpath.normpath(posixpath.join(home, endpoint.root or "."))
            self.real_root = self.sftp.normalize(self.root)
        except TransferFailed:
            self.transport.close()
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self.transport.close()
            raise _failure(exc) from exc

    def _full(self, path: str) -> str:
        return f"{self.root}/{path}" if path else self.root

    def list_dir(self, path: str) -> list[RemoteEntry]:
        try:
            found = self.sftp.listdir_attr(self._full(path))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise _failure(exc) from exc
        entries = []
        for attr in found:
            mode = attr.st_mode or 0
            entries.append(
                RemoteEntry(
                    name=attr.filename,
                    is_dir=stat.S_ISDIR(mode),
                    size=attr.st_size if stat.S_ISREG(mode) else None,
                    mtime=float(attr.st_mtime) if attr.st_mtime is not None else None,
                    is_link=stat.S_ISLNK(mode),
                )
            )
        return entries

    def resolves_inside(self, path: str) -> bool:
        try:
            target = self.sftp.normalize(self._full(path))  # the server's realpath
        except (OSError, EOFError, paramiko.SSHException):
            return False
        return target.startswith(self.real_root.rstrip("/") + "/")

    def stat(self, path: str) -> RemoteFile | None:
        try:
            attr = self.sftp.stat(self._full(path))
        except FileNotFoundError:
            return None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise _failure(exc) from exc
        if not stat.S_ISREG(attr.st_mode or 0):
            return None
        mtime = float(attr.st_mtime) if attr.st_mtime is not None else None
        return RemoteFile(path, attr.st_size or 0, mtime)

    def download(self, path: str, sink: Sink, offset: int = 0, size: int | None = None) -> None:
        try:
            with self.sftp.open(self._full(path), "rb") as remote:
                remote.seek(offset)
                # Read ahead only what the listing said: the size the server gives the open
                # file would size the read-ahead (a lying server, unbounded memory).
                if size is not None:
                    remote.prefetch(size)
                while True:
                    block = remote.read(BLOCK)
                    if not block:
                        break
                    sink.write(block)
        except TransferFailed:
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise _failure(exc) from exc

    def delete(self, path: str) -> None:
        try:
            self.sftp.remove(self._full(path))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise _failure(exc) from exc

    def move(self, path: str, folder: str) -> None:
        target = f"{folder}/{path}"
        self.make_dirs(target.rpartition("/")[0])
        try:
            self.sftp.rename(self._full(path), self._full(target))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise _failure(exc) from exc

    def make_dirs(self, path: str) -> None:
        try:
            for step in folder_steps(self.root, path):
                try:
                    self.sftp.mkdir(step)
                except OSError:
                    pass  # there already
        except (EOFError, paramiko.SSHException) as exc:
            raise _failure(exc) from exc

    def upload(self, path: str, source: BinaryIO) -> None:
        try:
            with self.sftp.open(self._full(path), "wb") as remote:
                remote.set_pipelined(True)
                while block := source.read(BLOCK):
                    remote.write(block)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise _failure(exc) from exc

    def remove_dir(self, path: str) -> None:
        try:
            self.sftp.rmdir(self._full(path))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise _failure(exc) from exc

    def space(self) -> tuple[int, int] | None:
        """OpenSSH's statvfs extension; None where the server lacks it."""
        try:
            # paramiko has no statvfs call of its own
            kind, msg = self.sftp._request(
                CMD_EXTENDED, "statvfs@openssh.com", self._full("") or "."
            )
        except (OSError, EOFError, paramiko.SSHException):
            return None
        if kind != CMD_EXTENDED_REPLY:
            return None
        block, fragment, blocks, _free, available = (msg.get_int64() for _ in range(5))
        unit = fragment or block
        return blocks * unit, available * unit

    def close(self) -> None:
        self.transport.close()
