"""Envelope encryption: a master key file wraps one data key per file; chunked AES-256-GCM.

Layout of an encrypted file (all integers big-endian):
    magic "RCE1" | version u8 | chunk_size u32 | plain_size u64 | key_fp 8 bytes
    | wrap_nonce 12 | wrapped data key 48 | chunk 0 | chunk 1 | ...
Each chunk is AES-GCM(data_key, nonce=index, aad=header||index||last) of chunk_size
plaintext bytes (the last may be shorter) plus its 16-byte tag, so any byte range is
read by decrypting only the chunks that hold it, and chunks cannot be swapped,
dropped or truncated without failing authentication.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.errors import IntegrityError, StorageError

MAGIC = b"RCE1"
VERSION = 1
CHUNK_SIZE = 64 * 1024
TAG = 16
_HEADER = struct.Struct(">4sBIQ8s12s48s")
HEADER_SIZE = _HEADER.size
_WRAP_AAD = b"recorder-data-key-v1"
_SECRET_AAD = b"recorder-secret-v1"


class MasterKey:
    """The key-encryption key, loaded from a file readable only by the service user."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise StorageError("the master key must be 32 bytes")
        self._aead = AESGCM(key)
        self.fingerprint = hashlib.sha256(b"fp" + key).digest()[:8]

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

    def unwrap(self, nonce: bytes, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, wrapped, _WRAP_AAD)
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
        try:
            return self._aead.decrypt(raw[:12], raw[12:], _SECRET_AAD).decode()
        except InvalidTag:
            raise IntegrityError("sealed secret does not open with this master key") from None


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
    """Random access to the plaintext of one encrypted file."""

    def __init__(self, master: MasterKey, path: Path) -> None:
        self._fh = path.open("rb")
        header = self._fh.read(HEADER_SIZE)
        if len(header) != HEADER_SIZE:
            self._fh.close()
            raise IntegrityError(f"{path.name}: encrypted header is truncated")
        magic, version, chunk, size, fp, wrap_nonce, wrapped = _HEADER.unpack(header)
        if magic != MAGIC or version != VERSION:
            self._fh.close()
            raise IntegrityError(f"{path.name}: not an encrypted recording")
        if fp != master.fingerprint:
            self._fh.close()
            raise IntegrityError(f"{path.name}: encrypted under another master key")
        self._header = header
        self._aead = AESGCM(master.unwrap(wrap_nonce, wrapped))
        self.chunk_size = chunk
        self.size = size
        self._count = max(1, -(-size // chunk))

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> EncryptedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def chunk(self, index: int) -> bytes:
        plain_len = min(self.chunk_size, self.size - index * self.chunk_size)
        self._fh.seek(HEADER_SIZE + index * (self.chunk_size + TAG))
        sealed = self._fh.read(max(plain_len, 0) + TAG)
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
