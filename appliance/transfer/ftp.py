"""FTP and FTPS (explicit TLS, AUTH TLS) through the standard library's ftplib."""

from __future__ import annotations

import calendar
import ftplib
import socket
import ssl
import time
from typing import BinaryIO

from appliance.domain.devices import PullEndpoint, PullProtocol
from appliance.errors import TransferFailed
from appliance.transfer import tls
from appliance.transfer.client import (
    TIMEOUT_S,
    Credentials,
    RemoteEntry,
    RemoteFile,
    Sink,
    folder_steps,
)

BLOCK = 64 * 1024


def _modified(text: str | None) -> float | None:
    """An MLSD `modify` fact or an MDTM answer (YYYYMMDDHHMMSS[.sss], UTC)."""
    if not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(text[:14], "%Y%m%d%H%M%S")))
    except ValueError:
        return None


def _failure(exc: Exception) -> TransferFailed:
    if isinstance(exc, ftplib.error_perm) and str(exc)[:3] in ("530", "331", "332"):
        return TransferFailed("auth_failed", str(exc))
    if isinstance(exc, ftplib.error_perm) and str(exc)[:3] == "550":
        return TransferFailed("not_found", str(exc))
    if isinstance(exc, socket.timeout | TimeoutError):
        return TransferFailed("timeout", str(exc))
    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        return TransferFailed("connect_failed", str(exc))
    return TransferFailed("protocol_error", f"{type(exc).__name__}: {exc}")


class FtpClient:
    host_key = ""

    def __init__(self, endpoint: PullEndpoint, credentials: Credentials) -> None:
        self.endpoint = endpoint
        self.root = endpoint.root
        secure = endpoint.protocol is PullProtocol.FTPS
        try:
            if secure:
                ctx = self._tls_context(credentials.tls_fingerprint)
                ftp: ftplib.FTP = ftplib.FTP_TLS(context=ctx, timeout=TIMEOUT_S)  # noqa: S321 - TLS, certificate checked
            else:
                # Plain FTP is what many PBXs offer; the device's form says FTPS is better.
                ftp = ftplib.FTP(timeout=TIMEOUT_S)  # noqa: S321
            ftp.connect(endpoint.host, endpoint.port)
            if isinstance(ftp, ftplib.FTP_TLS):
                try:
                    ftp.auth()  # the handshake checks the certificate before the password
                except ssl.SSLError as exc:
                    raise tls.describe(exc, self._certificate()) from exc
            ftp.login(credentials.username, credentials.password)
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()  # recordings travel encrypted too, not only the password
            self.ftp = ftp
            self._mlsd = True
        except TransferFailed:
            raise
        except (OSError, EOFError, ftplib.Error) as exc:
            raise _failure(exc) from exc

    def _certificate(self) -> bytes:
        """The server's certificate, read over AUTH TLS on a connection that sends no
        password (its verification is ours, against a fingerprint)."""
        probe = ftplib.FTP_TLS(context=tls.unverified(), timeout=TIMEOUT_S)  # noqa: S321 - reads the certificate, sends nothing
        try:
            probe.connect(self.endpoint.host, self.endpoint.port)
            probe.auth()
            secured = probe.sock
            der = (
                secured.getpeercert(binary_form=True)
                if isinstance(secured, ssl.SSLSocket)
                else None
            )
            return der or b""
        except (OSError, EOFError, ftplib.Error) as exc:
            raise _failure(exc) from exc
        finally:
            probe.close()

    def _tls_context(self, fingerprint: str) -> ssl.SSLContext:
        if fingerprint:
            return tls.pinned_context(fingerprint, self._certificate)
        return tls.context()

    def _full(self, path: str) -> str:
        if not path:
            return self.root or "."
        return f"{self.root}/{path}" if self.root else path

    def list_dir(self, path: str) -> list[RemoteEntry]:
        folder = self._full(path)
        try:
            if self._mlsd:
                try:
                    return self._list_mlsd(folder)
                except ftplib.error_perm as exc:
                    if str(exc)[:3] not in ("500", "501", "502", "504"):
                        raise
                    self._mlsd = False  # a server without MLSD (vsftpd): names, then SIZE
            return self._list_names(folder)
        except (OSError, EOFError, ftplib.Error) as exc:
            raise _failure(exc) from exc

    def _list_mlsd(self, folder: str) -> list[RemoteEntry]:
        entries = []
        for name, facts in self.ftp.mlsd(folder, facts=["type", "size", "modify"]):
            kind = facts.get("type", "").lower()
            if kind in ("cdir", "pdir") or name in (".", ".."):
                continue
            link = kind.startswith("os.unix=slink") or kind.startswith("os.unix=symlink")
            size = facts.get("size")
            entries.append(
                RemoteEntry(
                    name=name,
                    is_dir=kind == "dir",
                    size=int(size)
                    if size and size.isascii() and size.isdigit() and kind == "file"
                    else None,
                    mtime=_modified(facts.get("modify")),
                    is_link=link,
                )
            )
        return entries

    def _list_names(self, folder: str) -> list[RemoteEntry]:
        entries = []
        for full in self.ftp.nlst(folder):
            name = full.rstrip("/").rpartition("/")[2]
            if name in (".", ".."):
                continue
            try:
                size = self.ftp.size(f"{folder}/{name}")
            except ftplib.error_perm:
                entries.append(RemoteEntry(name, True, None, None))  # SIZE refuses folders
                continue
            entries.append(RemoteEntry(name, False, size, self._mdtm(f"{folder}/{name}")))
        return entries

    def _mdtm(self, full: str) -> float | None:
        try:
            return _modified(self.ftp.sendcmd(f"MDTM {full}")[4:].strip())
        except ftplib.error_perm:
            return None

    def resolves_inside(self, path: str) -> bool:
        return False  # FTP does not say where a link leads: never followed

    def stat(self, path: str) -> RemoteFile | None:
        full = self._full(path)
        try:
            size = self.ftp.size(full)
        except ftplib.error_perm:
            return None
        except (OSError, EOFError, ftplib.Error) as exc:
            raise _failure(exc) from exc
        return RemoteFile(path, size or 0, self._mdtm(full)) if size is not None else None

    def download(self, path: str, sink: Sink, offset: int = 0, size: int | None = None) -> None:
        try:
            self.ftp.retrbinary(
                f"RETR {self._full(path)}", sink.write, blocksize=BLOCK, rest=offset or None
            )
        except (OSError, EOFError, ftplib.Error) as exc:
            raise _failure(exc) from exc

    def delete(self, path: str) -> None:
        try:
            self.ftp.delete(self._full(path))
        except (OSError, EOFError, ftplib.Error) as exc:
            raise _failure(exc) from exc

    def move(self, path: str, folder: str) -> None:
        target = f"{folder}/{path}"
        self.make_dirs(target.rpartition("/")[0])
        try:
            self.ftp.rename(self._full(path), self._full(target))
        except (OSError, EOFError, ftplib.Error) as exc:
            raise _failure(exc) from exc

    def make_dirs(self, path: str) -> None:
        try:
            for step in folder_steps(self.root, path):
                try:
                    self.ftp.mkd(step)
                except ftplib.error_perm:
                    pass  # there already
        except (OSError, EOFError, ftplib.Error) as exc:
            raise _failure(exc) from exc

    def upload(self, path: str, source: BinaryIO) -> None:
        try:
            self.ftp.storbinary(f"STOR {self._full(path)}", source, blocksize=BLOCK)
        except (OSError, EOFError, ftplib.Error) as exc:
            raise _failure(exc) from exc

    def remove_dir(self, path: str) -> None:
        try:
            self.ftp.rmd(self._full(path))
        except (OSError, EOFError, ftplib.Error) as exc:
            raise _failure(exc) from exc

    def space(self) -> tuple[int, int] | None:
        return None  # FTP has no standard way to ask for the free space

    def close(self) -> None:
        try:
            self.ftp.quit()
        except (OSError, EOFError, ftplib.Error):
            self.ftp.close()
