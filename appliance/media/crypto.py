"""Envelope encryption: a master key file wraps one data key per file; chunked AES-256-GCM.

Layout of an encrypted file (all integers big-endian):
    magic "RCE1" | version u8 | chunk_size u32 | plain_size u64 | key_fp 8 bytes
    | wrap_nonce 12 | wrapped data key 48 | chunk 0 | chunk 1 | ...
Each chunk is AES-GCM(data_key, nonce=index, aad=header||index||last) of chunk_size
plaintext bytes (the last may be shorter) plus its 16-byte tag, so any byte range is
read by decrypting only the chunks that hold it, and chunks cannot be swapped,
dropped or truncated without failing authentication.

Version 2 is written as it goes (EncryptedWriter), before the plaintext size is known:
its AAD holds the header with plain_size zeroed, and the header is completed at the end.
A changed plain_size still fails: it moves the `last` flag or cuts a chunk short.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.errors import IntegrityError, StorageError

MAGIC = b"RCE1"
VERSION = 1
VERSION_STREAMED = 2
CHUNK_SIZE = 64 * 1024
TAG = 16
_HEADER = struct.Struct(">4sBIQ8s12s48s")
HEADER_SIZE = _HEADER.size
_WRAP_AAD = b"recorder-data-key-v1"
_SECRET_AAD = b"recorder-secret-v1"
PEER_LOOK_SECONDS = 5.0
log = logging.getLogger(__name__)


class MasterKey:
    """The key-encryption key, loaded from a file readable only by the service user."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise StorageError("the master key must be 32 bytes")
        self._key = key
        self._aead = AESGCM(key)
        self.fingerprint = hashlib.sha256(b"fp" + key).digest()[:8]
        # A paired appliance's master key (primary/standby): what the peer encrypted and
        # sealed opens here as it is, without re-encrypting its files. New files and
        # secrets are always wrapped by this appliance's own key.
        self._peers: dict[bytes, tuple[bytes, AESGCM]] = {}
        self._peer_source: Callable[[], list[bytes]] | None = None
        self._peer_looked_at = 0.0
        self._peer_lock = threading.Lock()

    def export(self) -> list[bytes]:
        """The raw keys, ours first, then the peers' this appliance holds files of (after a
        takeover, the old primary's): what pairing hands to the peer inside mutual TLS."""
        return [self._key, *(raw for raw, _ in list(self._peers.values()))]

    def add_peer(self, key: bytes) -> None:
        peer = MasterKey(key)
        if peer.fingerprint != self.fingerprint:
            self._peers[peer.fingerprint] = (key, peer._aead)

    def follow_peers(self, source: Callable[[], list[bytes]]) -> None:
        """Where peer keys come from when a file names an unknown one (a pairing made by
        another process); looked at no more than every few seconds."""
        self._peer_source = source

    def knows(self, fingerprint: bytes) -> bool:
        return fingerprint == self.fingerprint or self._aead_for(fingerprint) is not None

    def _aead_for(self, fingerprint: bytes) -> AESGCM | None:
        if fingerprint == self.fingerprint:
            return self._aead
        found = self._peers.get(fingerprint)
        if found is None and self._refresh_peers():
            found = self._peers.get(fingerprint)
        return None if found is None else found[1]

    def _refresh_peers(self) -> bool:
        """Ask the peer source again; whether a new key came. One thread asks at a time
        (the others wait for its answer); after an answer with nothing new, not again for
        a few seconds."""
        if self._peer_source is None:
            return False
        known = len(self._peers)
        with self._peer_lock:
            if len(self._peers) > known:
                return True  # another thread just brought it
            if self._peer_looked_at and time.monotonic() - self._peer_looked_at < PEER_LOOK_SECONDS:
                return False
            try:
                found = self._peer_source()
            except Exception:  # the database away: the file stays unreadable until it is back
                log.warning("the paired appliance's key could not be read", exc_info=True)
                return False
            for key in found:
                self.add_peer(key)
            if len(self._peers) == known:
                self._peer_looked_at = time.monotonic()
            return len(self._peers) > known

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        if path.exists():
            data = path.read_bytes()
            try:
                return cls(base64.b64decode(data.strip(), validate=True))
            except ValueError:
                raise StorageError(f"master key file {path} is not valid") from None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = AESGCM.generate_key(bit_length=256)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64encode(key) + b"\n")
        return cls(key)

    def wrap(self, data_key: bytes) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        return nonce, self._aead.encrypt(nonce, data_key, _WRAP_AAD)

    def unwrap(self, nonce: bytes, wrapped: bytes, fingerprint: bytes | None = None) -> bytes:
        aead = self._aead if fingerprint is None else self._aead_for(fingerprint)
        if aead is None:
            raise IntegrityError("encrypted under another master key")
        try:
            return aead.decrypt(nonce, wrapped, _WRAP_AAD)
        except InvalidTag:
            raise IntegrityError("data key does not unwrap with this master key") from None

    def seal_text(self, text: str) -> str:
        """Encrypt a short secret (a device's password) for a database column."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, text.encode(), _SECRET_AAD)
        return "v1:" + base64.b64encode(nonce + sealed).decode()

    def open_text(self, sealed: str) -> str:
        if not sealed.startswith("v1:"):
            raise IntegrityError("unknown sealed secret format")
        raw = base64.b64decode(sealed[3:])
        # A paired peer's sealed secrets (devices', mail's) arrive with its configuration.
        for attempt in range(2):
            for aead in (self._aead, *(a for _, a in list(self._peers.values()))):
                try:
                    return aead.decrypt(raw[:12], raw[12:], _SECRET_AAD).decode()
                except InvalidTag:
                    continue
            if attempt or not self._refresh_peers():
                break
        raise IntegrityError("sealed secret does not open with this master key")


def _chunk_aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">QB", index, int(last))


def _nonce(index: int) -> bytes:
    return struct.pack(">4xQ", index)


def encrypt(master: MasterKey, plain: bytes, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the encrypted file piece by piece: header, then one sealed chunk at a time."""
    data_key = AESGCM.generate_key(bit_length=256)
    wrap_nonce, wrapped = master.wrap(data_key)
    header = _HEADER.pack(
        MAGIC, VERSION, chunk_size, len(plain), master.fingerprint, wrap_nonce, wrapped
    )
    yield header
    aead = AESGCM(data_key)
    count = max(1, -(-len(plain) // chunk_size))
    for index in range(count):
        piece = plain[index * chunk_size : (index + 1) * chunk_size]
        yield aead.encrypt(_nonce(index), piece, _chunk_aad(header, index, index == count - 1))


class EncryptedReader:
    """Random access to the plaintext of one encrypted file (a path, or an open file)."""

    def __init__(self, master: MasterKey, source: Path | BinaryIO) -> None:
        self._owned = isinstance(source, Path)
        self._fh: BinaryIO = source.open("rb") if isinstance(source, Path) else source
        self._fh.seek(0)
        header = self._fh.read(HEADER_SIZE)
        name = source.name if isinstance(source, Path) else "file"
        try:
            if len(header) != HEADER_SIZE:
                raise IntegrityError(f"{name}: encrypted header is truncated")
            magic, version, chunk, size, fp, wrap_nonce, wrapped = _HEADER.unpack(header)
            if magic != MAGIC or version not in (VERSION, VERSION_STREAMED) or chunk == 0:
                raise IntegrityError(f"{name}: not an encrypted recording")
            if not master.knows(fp):
                raise IntegrityError(f"{name}: encrypted under another master key")
            data_key = master.unwrap(wrap_nonce, wrapped, fp)
        except IntegrityError:
            self.close()
            raise
        if version == VERSION_STREAMED:
            header = _HEADER.pack(magic, version, chunk, 0, fp, wrap_nonce, wrapped)
        self._header = header
        self._aead = AESGCM(data_key)
        self.chunk_size = chunk
        self.size = size
        self._count = max(1, -(-size // chunk))

    def close(self) -> None:
        if self._owned:
            self._fh.close()

    def __enter__(self) -> EncryptedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def chunk(self, index: int) -> bytes:
        plain_len = min(self.chunk_size, self.size - index * self.chunk_size)
        self._fh.seek(HEADER_SIZE + index * (self.chunk_size + TAG))
        if plain_len < 0 or index >= self._count:
            raise IntegrityError(f"chunk {index} is beyond the end")
        sealed = self._fh.read(plain_len + TAG)
        try:
            return self._aead.decrypt(
                _nonce(index), sealed, _chunk_aad(self._header, index, index == self._count - 1)
            )
        except InvalidTag:
            raise IntegrityError(f"chunk {index} fails authentication") from None

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        """Plaintext bytes start..end inclusive, decrypting only the chunks involved."""
        if start > end:
            return
        first, last = start // self.chunk_size, end // self.chunk_size
        for index in range(first, last + 1):
            piece = self.chunk(index)
            base = index * self.chunk_size
            yield piece[max(0, start - base) : end - base + 1]

    def verify(self) -> None:
        """Authenticate every chunk (one read pass, one chunk in memory at a time)."""
        for index in range(self._count):
            self.chunk(index)
        self._fh.seek(0, io.SEEK_END)
        if self._fh.tell() != HEADER_SIZE + self._count * TAG + self.size:
            raise IntegrityError("the file has bytes after its last chunk")

    def plain_file(self) -> BinaryIO:
        """A seekable, read-only file of the plaintext (for decoders that want one)."""
        return io.BufferedReader(_PlainRaw(self), buffer_size=self.chunk_size)


class _PlainRaw(io.RawIOBase):
    def __init__(self, reader: EncryptedReader) -> None:
        self._reader = reader
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        """Closing the plaintext file closes the encrypted one under it (else its
        descriptor lingers until the collector finds it)."""
        if not self.closed:
            self._reader.close()
        super().close()

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._reader.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._reader.size:
            return 0
        index, skip = divmod(self._pos, self._reader.chunk_size)
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self._reader.chunk(index))
        piece = self._cached[1][skip : skip + len(buffer)]
        buffer[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)


class EncryptedWriter:
    """Seal chunk by chunk as data arrives (version 2), into a seekable file opened for writing.

    Chunk 0 stays in memory until close() so the first bytes can still be patched (a WAV
    header whose length is known only at the end).
    """

    def __init__(self, master: MasterKey, fh: BinaryIO, chunk_size: int = CHUNK_SIZE) -> None:
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce, wrapped = master.wrap(data_key)
        self._fields = (MAGIC, VERSION_STREAMED, chunk_size, 0, master.fingerprint)
        self._wrap = (wrap_nonce, wrapped)
        self._aad_header = _HEADER.pack(*self._fields, wrap_nonce, wrapped)
        self._aead = AESGCM(data_key)
        self._fh = fh
        self._chunk = chunk_size
        self._pending = bytearray()
        self._first: bytearray | None = None
        self._index = 0
        self.size = 0
        fh.seek(0)
        fh.write(self._aad_header)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._pending += data
        self.size += len(data)
        # Strictly more than a chunk: the last chunk must be sealed as last, at close.
        while len(self._pending) > self._chunk:
            piece = self._pending[: self._chunk]
            del self._pending[: self._chunk]
            self._emit(piece, last=False)

    def patch(self, offset: int, data: bytes) -> None:
        """Overwrite plaintext bytes inside the first chunk."""
        target = self._first if self._first is not None else self._pending
        if offset + len(data) > min(len(target), self._chunk):
            raise ValueError("only bytes already written in the first chunk can be patched")
        target[offset : offset + len(data)] = data

    def _emit(self, piece: bytearray, *, last: bool) -> None:
        if self._index == 0 and not last:
            self._first = piece
        else:
            self._seal(self._index, bytes(piece), last)
        self._index += 1

    def _seal(self, index: int, piece: bytes, last: bool) -> None:
        self._fh.seek(HEADER_SIZE + index * (self._chunk + TAG))
        self._fh.write(
            self._aead.encrypt(_nonce(index), piece, _chunk_aad(self._aad_header, index, last))
        )

    def close(self) -> None:
        """Seal the last chunk and the held first chunk, then complete the header."""
        self._emit(self._pending, last=True)
        self._pending = bytearray()
        if self._first is not None:
            self._seal(0, bytes(self._first), False)
            self._first = None
        magic, version, chunk, _, fp = self._fields
        self._fh.seek(0)
        self._fh.write(_HEADER.pack(magic, version, chunk, self.size, fp, *self._wrap))
        self._fh.seek(0, io.SEEK_END)
