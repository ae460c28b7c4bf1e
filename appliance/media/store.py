"""The file store: recordings/YYYY/MM/DD/, atomic writes, optional encryption, checksums."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from appliance.errors import IntegrityError, StorageError
from appliance.media.crypto import EncryptedReader, MasterKey, encrypt

READ_BLOCK = 64 * 1024


@dataclass(frozen=True)
class StoredFile:
    relpath: str
    disk_size: int
    plain_size: int
    sha256: str
    encrypted: bool


class FileStore:
    def __init__(self, root: Path, master: MasterKey) -> None:
        self.root = root
        self.master = master

    def path(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"path {relpath!r} escapes the store")
        return path

    def put(self, data: bytes, when: datetime, ext: str, *, encrypted: bool) -> StoredFile:
        """Write atomically (temp file, fsync, rename) so no half file is ever visible."""
        day = f"{when:%Y/%m/%d}"
        name = f"{uuid.uuid4().hex}.{ext}" + (".enc" if encrypted else "")
        relpath = f"recordings/{day}/{name}"
        final = self.path(relpath)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.part")
        digest = hashlib.sha256()
        size = 0
        pieces = encrypt(self.master, data) if encrypted else iter((data,))
        try:
            with tmp.open("wb") as fh:
                for piece in pieces:
                    digest.update(piece)
                    size += len(piece)
                    fh.write(piece)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write {relpath}: {exc.strerror}") from exc
        _fsync_dir(final.parent)
        return StoredFile(relpath, size, len(data), digest.hexdigest(), encrypted)

    def read_range(self, stored: StoredFile, start: int, end: int) -> Iterator[bytes]:
        """Plaintext bytes start..end (inclusive) of a stored file."""
        path = self.path(stored.relpath)
        if stored.encrypted:
            with EncryptedReader(self.master, path) as reader:
                yield from reader.read_range(start, end)
            return
        with path.open("rb") as fh:
            fh.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                block = fh.read(min(READ_BLOCK, remaining))
                if not block:
                    raise IntegrityError(f"{stored.relpath} is shorter than recorded")
                remaining -= len(block)
                yield block

    def read_all(self, stored: StoredFile) -> bytes:
        if stored.plain_size == 0:
            return b""
        return b"".join(self.read_range(stored, 0, stored.plain_size - 1))

    def check(self, stored: StoredFile) -> str | None:
        """None when the file is present and matches its checksum, else what is wrong."""
        path = self.path(stored.relpath)
        digest = hashlib.sha256()
        try:
            with path.open("rb") as fh:
                while block := fh.read(1024 * 1024):
                    digest.update(block)
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            return f"unreadable: {exc.strerror}"
        if digest.hexdigest() != stored.sha256:
            return "corrupt (checksum mismatch)"
        return None

    def remove(self, relpath: str) -> None:
        self.path(relpath).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
