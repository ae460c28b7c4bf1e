"""A download that may break off and resume in a later run, sealed on disk like every
recording: the plaintext of a PBX's file never lies in clear in the data directory.

The file is a header (magic, the wrapped data key, what the remote file was) and records
of (length, nonce, AES-GCM ciphertext), each bound to its plaintext offset. Resuming
keeps the records that open and cuts what follows (a record torn by a crash)."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.errors import IntegrityError
from appliance.media.crypto import MasterKey

_MAGIC = b"RPP1"
_HEAD = struct.Struct(">4sI12s48s")  # magic, length of the description, wrap nonce, key
_RECORD = struct.Struct(">I12s")  # ciphertext length, nonce
RECORD_PLAIN = 256 * 1024


class SealedPartial:
    """The bytes of one remote file fetched so far; `describes` is what the listing said
    of it (path, size, mtime): a file that changed since starts over."""

    def __init__(self, path: Path, master: MasterKey, describes: dict[str, object]) -> None:
        self.path = path
        self.master = master
        self.describes = json.dumps(describes, sort_keys=True).encode()
        self.size = 0
        self._pending = bytearray()
        self._key: AESGCM | None = None
        self._fh = self._open()

    def _open(self):  # type: ignore[no-untyped-def]
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fh = open(self.path, "r+b")
        except FileNotFoundError:
            return self._start()
        head = fh.read(_HEAD.size)
        try:
            magic, length, nonce, wrapped = _HEAD.unpack(head)
            described = fh.read(length)
            if magic != _MAGIC or described != self.describes:
                raise ValueError("another file")
            self._key = AESGCM(self.master.unwrap(nonce, wrapped))
        except (struct.error, ValueError, IntegrityError):
            fh.close()
            return self._start()
        good = fh.tell()
        while True:
            record = fh.read(_RECORD.size)
            if len(record) < _RECORD.size:
                break
            length, nonce = _RECORD.unpack(record)
            sealed = fh.read(length)
            try:
                plain = self._key.decrypt(nonce, sealed, struct.pack(">Q", self.size))
            except (InvalidTag, ValueError):
                break
            self.size += len(plain)
            good = fh.tell()
        fh.seek(good)
        fh.truncate()
        return fh

    def _start(self):  # type: ignore[no-untyped-def]
        data_key = AESGCM.generate_key(bit_length=256)
        self._key = AESGCM(data_key)
        nonce, wrapped = self.master.wrap(data_key)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        fh = os.fdopen(fd, "r+b")
        fh.write(_HEAD.pack(_MAGIC, len(self.describes), nonce, wrapped) + self.describes)
        self.size = 0
        return fh

    # The sink a transfer client writes into (positioned at self.size).
    def write(self, data: bytes, /) -> int:
        self._pending += data
        while len(self._pending) >= RECORD_PLAIN:
            self._seal(bytes(self._pending[:RECORD_PLAIN]))
            del self._pending[:RECORD_PLAIN]
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset == 0 and whence == 0 and self.size:  # a server without ranges: start over
            self._fh.close()
            self._fh = self._start()
            self._pending.clear()
        return self.size + len(self._pending)

    def truncate(self, size: int | None = None) -> int:
        return self.size + len(self._pending)

    def tell(self) -> int:
        return self.size + len(self._pending)

    def _seal(self, plain: bytes) -> None:
        assert self._key is not None
        nonce = os.urandom(12)
        sealed = self._key.encrypt(nonce, plain, struct.pack(">Q", self.size))
        self._fh.write(_RECORD.pack(len(sealed), nonce) + sealed)
        self.size += len(plain)

    def flush(self, durable: bool = True) -> None:
        """Seal what is pending; durable: on the disk too (a broken transfer, left for the
        next run), where a complete one is read back at once and needs no fsync."""
        if self._pending:
            self._seal(bytes(self._pending))
            self._pending.clear()
        self._fh.flush()
        if durable:
            os.fsync(self._fh.fileno())

    def plain(self) -> Iterator[bytes]:
        """The bytes fetched, in order (after flush)."""
        assert self._key is not None
        self._fh.seek(_HEAD.size + len(self.describes))
        offset = 0
        while True:
            record = self._fh.read(_RECORD.size)
            if len(record) < _RECORD.size:
                return
            length, nonce = _RECORD.unpack(record)
            plain = self._key.decrypt(nonce, self._fh.read(length), struct.pack(">Q", offset))
            offset += len(plain)
            yield plain

    def close(self) -> None:
        self._fh.close()

    def discard(self) -> None:
        self._fh.close()
        self.path.unlink(missing_ok=True)
