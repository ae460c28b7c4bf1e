"""A folder on this machine (another disk) as a backup target: the same calls as a server."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO

from appliance.errors import TransferFailed
from appliance.transfer.client import RemoteEntry, RemoteFile, Sink

BLOCK = 1024 * 1024


def _failure(exc: OSError) -> TransferFailed:
    if isinstance(exc, FileNotFoundError):
        return TransferFailed("not_found", str(exc))
    if isinstance(exc, PermissionError):
        return TransferFailed("auth_failed", str(exc))
    return TransferFailed("connect_failed", str(exc))


class LocalClient:
    host_key = ""

    def __init__(self, root: str) -> None:
        # The folder the administrator named may itself be a link (to a mounted disk).
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise TransferFailed("not_found", f"{root} is not a folder")

    def _full(self, path: str) -> Path:
        """The path below the target's folder, refusing any link on the way: a link planted
        in a set would otherwise have a run read, write or delete where it leads."""
        full = self.root
        for part in Path(path.strip("/")).parts:
            if part in ("..", "."):
                raise TransferFailed("not_found", f"{path}: no '..' below the target")
            full = full / part
            if full.is_symlink():
                raise TransferFailed("not_found", f"{path}: a link, not followed")
        return full

    def _regular(self, path: str) -> Path:
        """A plain file (a pipe or a device would hang or never end a read)."""
        full = self._full(path)
        try:
            mode = full.lstat().st_mode
        except OSError as exc:
            raise _failure(exc) from exc
        if not stat.S_ISREG(mode):
            raise TransferFailed("not_found", f"{path}: not a plain file")
        return full

    def list_dir(self, path: str) -> list[RemoteEntry]:
        try:
            with os.scandir(self._full(path)) as found:
                return [
                    RemoteEntry(
                        e.name,
                        e.is_dir(follow_symlinks=False),
                        e.stat(follow_symlinks=False).st_size,
                        e.stat(follow_symlinks=False).st_mtime,
                        is_link=e.is_symlink(),
                    )
                    for e in found
                ]
        except OSError as exc:
            raise _failure(exc) from exc

    def resolves_inside(self, path: str) -> bool:
        return False  # a backup folder holds no links of ours: never followed

    def stat(self, path: str) -> RemoteFile | None:
        try:
            found = self._full(path).lstat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _failure(exc) from exc
        return RemoteFile(path, found.st_size, found.st_mtime)

    def download(self, path: str, sink: Sink, offset: int = 0, size: int | None = None) -> None:
        try:
            with self._regular(path).open("rb") as fh:
                fh.seek(offset)
                while block := fh.read(BLOCK):
                    sink.write(block)
        except OSError as exc:
            raise _failure(exc) from exc

    def delete(self, path: str) -> None:
        try:
            self._regular(path).unlink()
        except OSError as exc:
            raise _failure(exc) from exc

    def move(self, path: str, folder: str) -> None:
        target = f"{folder}/{path}"
        self.make_dirs(target.rpartition("/")[0])
        try:
            os.replace(self._full(path), self._full(target))
        except OSError as exc:
            raise _failure(exc) from exc

    def make_dirs(self, path: str) -> None:
        try:
            self._full(path).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _failure(exc) from exc

    def upload(self, path: str, source: BinaryIO) -> None:
        """Written beside, flushed to the disk, then renamed: a file is whole or absent."""
        final = self._full(path)
        partial = final.with_name(f".{final.name}.part")
        try:
            partial.unlink(missing_ok=True)
            # A new file of our own: never an existing pipe or a link planted there.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:
                shutil.copyfileobj(source, fh, BLOCK)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, final)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise _failure(exc) from exc

    def remove_dir(self, path: str) -> None:
        try:
            self._full(path).rmdir()
        except OSError as exc:
            raise _failure(exc) from exc

    def space(self) -> tuple[int, int] | None:
        usage = shutil.disk_usage(self.root)
        return usage.total, usage.free

    def close(self) -> None:
        pass
