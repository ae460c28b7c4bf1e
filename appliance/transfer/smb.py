"""A NAS share over SMB 2/3 through smbprotocol: no mount, signed and (where the server
offers it) encrypted sessions; each client keeps its own connection."""

from __future__ import annotations

import errno
import socket
from typing import Any, BinaryIO

import smbclient
from smbprotocol.exceptions import (
    AccessDenied,
    LogonFailure,
    SMBAuthenticationError,
    SMBException,
    SMBOSError,
)

from appliance.domain.backup import TargetLocation
from appliance.errors import TransferFailed
from appliance.transfer.client import TIMEOUT_S, Credentials, RemoteEntry, RemoteFile, Sink

BLOCK = 1024 * 1024


def _failure(exc: Exception) -> TransferFailed:
    if isinstance(exc, SMBAuthenticationError | LogonFailure | AccessDenied):
        return TransferFailed("auth_failed", str(exc))
    number = getattr(exc, "errno", None)
    if isinstance(exc, FileNotFoundError | NotADirectoryError) or number == errno.ENOENT:
        return TransferFailed("not_found", str(exc))
    if isinstance(exc, PermissionError) or number == errno.EACCES:
        return TransferFailed("auth_failed", str(exc))
    if isinstance(exc, TimeoutError | socket.timeout):
        return TransferFailed("timeout", str(exc))
    if isinstance(exc, SMBOSError | SMBException):
        return TransferFailed("protocol_error", str(exc))
    return TransferFailed("connect_failed", str(exc))


_ERRORS = (OSError, ValueError, SMBException)
_DIRECTORY = 0x10  # FILE_ATTRIBUTE_DIRECTORY
_REPARSE_POINT = 0x400  # a link or junction


class SmbClient:
    host_key = ""

    def __init__(self, location: TargetLocation, credentials: Credentials) -> None:
        self.location = location
        self._cache: dict[str, Any] = {}
        host = f"[{location.host}]" if ":" in location.host else location.host
        self._base = f"\\\\{host}\\{location.share}"
        self._options: dict[str, Any] = {
            "username": credentials.username,
            "password": credentials.password,
            "port": location.port,
            "connection_cache": self._cache,
            "connection_timeout": int(TIMEOUT_S),
            "auth_protocol": "ntlm",
        }
        try:
            smbclient.register_session(
                location.host,
                username=credentials.username,
                password=credentials.password,
                port=location.port,
                connection_cache=self._cache,
                connection_timeout=int(TIMEOUT_S),
                # A NAS signs in by user and password: NTLM inside SPNEGO, never a
                # Kerberos lookup of a realm the appliance has no part in.
                auth_protocol="ntlm",
            )
            smbclient.stat(self._base, **self._options)  # the share; the folder is made
        except _ERRORS as exc:
            self.close()
            raise _failure(exc) from exc

    def _full(self, path: str) -> str:
        parts = [p for p in f"{self.location.path}/{path}".split("/") if p]
        return "\\".join([self._base, *parts])

    def list_dir(self, path: str) -> list[RemoteEntry]:
        # The listing's own attributes: asking each entry again would cost a round trip.
        try:
            return [
                RemoteEntry(
                    found.name,
                    bool(found.smb_info.file_attributes & _DIRECTORY),
                    found.smb_info.end_of_file,
                    found.smb_info.last_write_time.timestamp(),
                    is_link=bool(found.smb_info.file_attributes & _REPARSE_POINT),
                )
                for found in smbclient.scandir(self._full(path), **self._options)
            ]
        except _ERRORS as exc:
            raise _failure(exc) from exc

    def resolves_inside(self, path: str) -> bool:
        return False

    def stat(self, path: str) -> RemoteFile | None:
        try:
            info = smbclient.stat(self._full(path), **self._options)
        except _ERRORS as exc:
            failure = _failure(exc)
            if failure.code == "not_found":
                return None
            raise failure from exc
        return RemoteFile(path, info.st_size, info.st_mtime)

    def download(self, path: str, sink: Sink, offset: int = 0, size: int | None = None) -> None:
        try:
            with smbclient.open_file(self._full(path), "rb", **self._options) as fh:
                fh.seek(offset)
                while block := fh.read(BLOCK):
                    sink.write(block)
        except _ERRORS as exc:
            raise _failure(exc) from exc

    def delete(self, path: str) -> None:
        try:
            smbclient.remove(self._full(path), **self._options)
        except _ERRORS as exc:
            raise _failure(exc) from exc

    def move(self, path: str, folder: str) -> None:
        target = f"{folder}/{path}"
        self.make_dirs(target.rpartition("/")[0])
        try:
            smbclient.rename(self._full(path), self._full(target), **self._options)
        except _ERRORS as exc:
            raise _failure(exc) from exc

    def make_dirs(self, path: str) -> None:
        try:
            smbclient.makedirs(self._full(path), exist_ok=True, **self._options)
        except _ERRORS as exc:
            raise _failure(exc) from exc

    def upload(self, path: str, source: BinaryIO) -> None:
        try:
            with smbclient.open_file(self._full(path), "wb", **self._options) as fh:
                while block := source.read(BLOCK):
                    fh.write(block)
        except _ERRORS as exc:
            raise _failure(exc) from exc

    def remove_dir(self, path: str) -> None:
        try:
            smbclient.rmdir(self._full(path), **self._options)
        except _ERRORS as exc:
            raise _failure(exc) from exc

    def space(self) -> tuple[int, int] | None:
        try:
            found = smbclient.stat_volume(self._base, **self._options)
        except _ERRORS:
            return None
        return found.total_size, found.caller_available_size

    def close(self) -> None:
        try:
            smbclient.reset_connection_cache(connection_cache=self._cache)
        except _ERRORS:
            pass
