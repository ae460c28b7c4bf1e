"""The file store: recordings/YYYY/MM/DD/, atomic writes, optional encryption, checksums."""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from appliance.domain.bounded import Bounded
from appliance.domain.recordings import STORED_PATH
from appliance.errors import IntegrityError, StorageError, StorageFull
from appliance.media.crypto import EncryptedReader, EncryptedWriter, MasterKey

log = logging.getLogger(__name__)

READ_BLOCK = 64 * 1024
HASH_BLOCK = 1024 * 1024
SCRATCH_DIR = "tmp"
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
INTEGRITY_MESSAGE = "the recording failed its integrity check"


def storage_failure(exc: OSError, doing: str) -> StorageError:
    """An OSError as the appliance's error: the detail (paths) goes to the log, not the user."""
    log.error("storage failure while %s: %s", doing, exc)
    if exc.errno in _FULL:
        return StorageFull("the storage is full")
    return StorageError("the storage cannot be used right now")


@dataclass(frozen=True)
class StoredFile:
    relpath: str
    disk_size: int
    plain_size: int
    sha256: str
    encrypted: bool


class StoreWriter:
    """One file being written into the store: chunks sealed as they come, atomic rename."""

    def __init__(self, store: FileStore, relpath: str, encrypted: bool) -> None:
        self._store = store
        self.relpath = relpath
        self._final = store.path(relpath)
        self._tmp = self._final.with_name(f".{self._final.name}.part")
        self._encrypted = encrypted
        try:
            self._final.parent.mkdir(parents=True, exist_ok=True)
            self._fh: BinaryIO = self._tmp.open("w+b")
        except OSError as exc:
            raise storage_failure(exc, "creating a recording file") from exc
        self._sealer = EncryptedWriter(store.master, self._fh) if encrypted else None
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        try:
            if self._sealer is not None:
                self._sealer.write(data)
            else:
                self._fh.write(data)
        except OSError as exc:
            raise storage_failure(exc, "writing a recording file") from exc
        self.size += len(data)

    def patch_head(self, data: bytes) -> None:
        """Overwrite the first bytes (a header whose lengths are known only at the end)."""
        if self._sealer is not None:
            self._sealer.patch(0, data)
            return
        try:
            self._fh.seek(0)
            self._fh.write(data)
            self._fh.seek(0, io.SEEK_END)
        except OSError as exc:
            raise storage_failure(exc, "writing a recording file") from exc

    def commit(self, expect_sha256: str | None = None) -> StoredFile:
        """Seal, fsync, rename; the checksum is of the bytes on disk, read back once. With
        `expect_sha256` (a copy from the peer) other bytes are refused before the rename."""
        try:
            if self._sealer is not None:
                self._sealer.close()
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.seek(0)
            digest = hashlib.sha256()
            disk_size = 0
            while block := self._fh.read(HASH_BLOCK):
                digest.update(block)
                disk_size += len(block)
            self._fh.close()
            if expect_sha256 is not None and digest.hexdigest() != expect_sha256:
                self._tmp.unlink(missing_ok=True)
                raise IntegrityError(f"{self.relpath}: the copy does not match its checksum")
            os.replace(self._tmp, self._final)
            _fsync_dir(self._final.parent)
        except OSError as exc:
            self.abort()
            raise storage_failure(exc, "completing a recording file") from exc
        return StoredFile(self.relpath, disk_size, self.size, digest.hexdigest(), self._encrypted)

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            self.abort()


class Scratch:
    """An upload on its way in: an unnamed file in the data directory (O_TMPFILE, so
    nothing is left after a crash), sealed with a key that lives only in this object."""

    def __init__(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._fh: BinaryIO = tempfile.TemporaryFile(dir=directory)
        except OSError as exc:
            raise storage_failure(exc, "creating an upload's temporary file") from exc
        self._master = MasterKey(os.urandom(32))
        self._writer: EncryptedWriter | None = EncryptedWriter(self._master, self._fh)
        self._reader: EncryptedReader | None = None

    @property
    def size(self) -> int:
        return self._writer.size if self._writer else self._reader.size if self._reader else 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert self._writer is not None, "the scratch file is already closed for writing"
        try:
            self._writer.write(data)
        except OSError as exc:
            raise storage_failure(exc, "receiving an upload") from exc

    def open(self) -> BinaryIO:
        """The plaintext as a seekable file; writing is over."""
        if self._writer is not None:
            try:
                self._writer.close()
                self._fh.flush()
            except OSError as exc:
                raise storage_failure(exc, "receiving an upload") from exc
            self._writer = None
            self._reader = EncryptedReader(self._master, self._fh)
        assert self._reader is not None
        return self._reader.plain_file()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileStore:
    def __init__(self, root: Path, master: MasterKey) -> None:
        self.root = root
        self.master = master
        self._verified: Bounded[tuple[str, int, int, int, int], bool] = Bounded(10_000)
        self._verified_lock = threading.Lock()

    def path(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"path {relpath!r} escapes the store")
        return path

    def create(self, when: datetime, ext: str, *, encrypted: bool) -> StoreWriter:
        """A new file under recordings/YYYY/MM/DD/, written piece by piece, then commit()."""
        name = f"{uuid.uuid4().hex}.{ext}" + (".enc" if encrypted else "")
        return StoreWriter(self, f"recordings/{when:%Y/%m/%d}/{name}", encrypted)

    def receive(self, relpath: str) -> StoreWriter:
        """A recording file copied byte for byte from the paired appliance, under the path
        it has there (its bytes stay as they are: encrypted under the peer's key)."""
        if not STORED_PATH.fullmatch(relpath):
            raise IntegrityError(f"{relpath!r} is not a recording's path")
        return StoreWriter(self, relpath, encrypted=False)

    def scratch(self) -> Scratch:
        return Scratch(self.scratch_dir())

    def scratch_dir(self) -> Path:
        """Where temporary files go: on the data disk, readable by this service alone."""
        directory = self.root / SCRATCH_DIR
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return directory

    def put(self, data: bytes, when: datetime, ext: str, *, encrypted: bool) -> StoredFile:
        """Write atomically (temp file, fsync, rename) so no half file is ever visible."""
        with self.create(when, ext, encrypted=encrypted) as writer:
            for start in range(0, len(data), HASH_BLOCK):
                writer.write(data[start : start + HASH_BLOCK])
            return writer.commit()

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

    def open_plain(self, stored: StoredFile) -> BinaryIO:
        """The plaintext as a seekable file, decrypted chunk by chunk when needed."""
        path = self.path(stored.relpath)
        if stored.encrypted:
            return EncryptedReader(self.master, path).plain_file()
        return path.open("rb")

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
                while block := fh.read(HASH_BLOCK):
                    digest.update(block)
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            return f"unreadable: {exc.strerror}"
        if digest.hexdigest() != stored.sha256:
            return "corrupt (checksum mismatch)"
        return None

    def verify(self, stored: StoredFile) -> None:
        """Raise IntegrityError unless the file matches its checksum; a file already checked
        and unchanged since (same inode, size, mtime and ctime) is not read again."""
        path = self.path(stored.relpath)
        key = self.stat_key(stored.sha256, path)
        if key is not None and self.was_verified(key):
            return
        problem = self.check(stored)
        if problem is not None:
            raise IntegrityError(f"{INTEGRITY_MESSAGE} ({problem})")
        if key is not None:
            self.mark_verified(key)

    @staticmethod
    def stat_key(tag: str, path: Path) -> tuple[str, int, int, int, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        # ctime cannot be set back from user space, so a rewrite always changes the key.
        return (tag, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def was_verified(self, key: tuple[str, int, int, int, int]) -> bool:
        with self._verified_lock:
            return self._verified.get(key) is not None

    def mark_verified(self, key: tuple[str, int, int, int, int]) -> None:
        with self._verified_lock:
            self._verified.put(key, True)

    def remove(self, relpath: str) -> None:
        self.path(relpath).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
