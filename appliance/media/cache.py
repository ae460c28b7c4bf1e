"""Transcoded copies of recordings, made once, sealed like the store, bounded in size.

A copy is named by the stored file's checksum and the format, so a recording and its
copies are found together; concurrent transcodes are bounded by a semaphore, and two
requests for the same copy wait for one transcode.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from appliance.domain.bounded import Bounded
from appliance.errors import Busy, IntegrityError
from appliance.media.crypto import EncryptedReader, EncryptedWriter, MasterKey
from appliance.media.store import FileStore, storage_failure

log = logging.getLogger(__name__)

CACHE_DIR = "cache/transcoded"


class TranscodeCache:
    def __init__(
        self,
        store: FileStore,
        master: MasterKey,
        max_bytes: int = 2 * 1024**3,
        concurrent: int = 2,
        waiting: int = 4,
        wait_s: float = 20.0,
    ) -> None:
        self.root = store.root / CACHE_DIR
        self._store = store
        self._master = master
        self.max_bytes = max_bytes
        self._slots = threading.BoundedSemaphore(concurrent)
        self._waiting = threading.BoundedSemaphore(concurrent + waiting)
        self._wait_s = wait_s
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # When each copy was last served, in memory: touching the file would change the
        # stat key its "already checked" memo hangs on, and cost a full check per hit.
        self._last_use: Bounded[str, float] = Bounded(10_000)
        self.made = 0  # transcodes run since start (the tests and the log read it)

    def path(self, sha256: str, ext: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{ext}.enc"

    def get(
        self,
        sha256: str,
        ext: str,
        make: Callable[[EncryptedWriter], None],
        *,
        patient: bool = False,
    ) -> Path:
        """The verified copy, made with make(writer) when missing or damaged; a patient
        caller (a zip already streaming) waits for its turn however long it takes."""
        path = self.path(sha256, ext)
        if self._usable(path):
            self._used(path)
            return path
        # Each waiter holds one of the web server's worker threads: past a few, say Busy
        # at once rather than let conversions starve sign-in and search of threads.
        if not patient and not self._waiting.acquire(blocking=False):
            raise Busy("too many recordings are being converted; try again shortly", 5)
        try:
            self._get_or_make(path, make, patient)
        finally:
            if not patient:
                self._waiting.release()
        self._evict(keep=path)
        return path

    def _get_or_make(
        self, path: Path, make: Callable[[EncryptedWriter], None], patient: bool
    ) -> None:
        wait = -1 if patient else self._wait_s
        lock = self._lock_for(path.name)
        if not lock.acquire(timeout=wait):
            raise Busy("this recording is being converted; try again shortly", retry_after=5)
        try:
            if self._usable(path):
                return
            if not self._slots.acquire(timeout=None if patient else self._wait_s):
                raise Busy("too many recordings are being converted; try again shortly", 5)
            try:
                self._make(path, make)
            finally:
                self._slots.release()
        finally:
            lock.release()

    def size_of(self, path: Path) -> int:
        with EncryptedReader(self._master, path) as reader:
            return reader.size

    def read_range(self, path: Path, start: int, end: int) -> Iterator[bytes]:
        with EncryptedReader(self._master, path) as reader:
            yield from reader.read_range(start, end)

    def remove(self, sha256: str) -> None:
        """Drop every copy of one stored file (its recording was deleted)."""
        folder = self.root / sha256[:2]
        for found in folder.glob(f"{sha256}.*") if folder.is_dir() else ():
            found.unlink(missing_ok=True)

    def clean_partial(self, min_age_s: float = 3600) -> None:
        """Remove copies a crash left half-written (old ones: another process may be
        writing a young one right now)."""
        cutoff = time.time() - min_age_s
        for found in self.root.rglob(".*.part") if self.root.is_dir() else ():
            try:
                if found.stat().st_mtime < cutoff:
                    found.unlink(missing_ok=True)
            except FileNotFoundError:
                continue

    def _used(self, path: Path) -> None:
        with self._locks_guard:
            self._last_use.put(path.name, time.time())

    def _lock_for(self, name: str) -> threading.Lock:
        with self._locks_guard:
            if len(self._locks) > 1000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            return self._locks.setdefault(name, threading.Lock())

    def _usable(self, path: Path) -> bool:
        key = self._store.stat_key("cache", path)
        if key is None:
            return False
        if self._store.was_verified(key):
            return True
        try:
            with EncryptedReader(self._master, path) as reader:
                reader.verify()
        except IntegrityError as exc:
            log.error("a transcoded copy failed its check and is made again: %s", exc)
            path.unlink(missing_ok=True)
            return False
        self._store.mark_verified(key)
        return True

    def _make(self, path: Path, make: Callable[[EncryptedWriter], None]) -> None:
        tmp = path.with_name(f".{path.name}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w+b") as fh:
                writer = EncryptedWriter(self._master, fh)
                make(writer)
                writer.close()
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise storage_failure(exc, "writing a transcoded copy") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.made += 1
        key = self._store.stat_key("cache", path)
        if key is not None:
            self._store.mark_verified(key)

    def _evict(self, keep: Path) -> None:
        """Oldest copies go first until the cache fits its bound."""
        entries = []
        for found in self.root.rglob("*.enc"):
            try:
                st = found.stat()
            except FileNotFoundError:
                continue
            with self._locks_guard:
                used = self._last_use.items.get(found.name, 0.0)  # not a use: order kept
            entries.append((max(st.st_mtime, used), st.st_size, found))
        total = sum(size for _, size, _ in entries)
        for _, size, found in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            if found != keep:
                found.unlink(missing_ok=True)
                total -= size
