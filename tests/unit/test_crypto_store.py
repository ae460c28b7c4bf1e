from __future__ import annotations

import os
from datetime import datetime

import pytest

from appliance.errors import IntegrityError, StorageError
from appliance.media.crypto import CHUNK_SIZE, HEADER_SIZE, EncryptedReader, MasterKey, encrypt
from appliance.media.store import FileStore


@pytest.fixture()
def master(tmp_path):
    return MasterKey.load_or_create(tmp_path / "keys" / "master.key")


def test_master_key_is_created_once_and_private(tmp_path):
    path = tmp_path / "k" / "master.key"
    first = MasterKey.load_or_create(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert MasterKey.load_or_create(path).fingerprint == first.fingerprint


def test_random_access_matches_plaintext(tmp_path, master):
    plain = os.urandom(CHUNK_SIZE * 3 + 123)
    path = tmp_path / "f.enc"
    path.write_bytes(b"".join(encrypt(master, plain)))
    with EncryptedReader(master, path) as reader:
        assert reader.size == len(plain)
        for start, end in [(0, 0), (CHUNK_SIZE - 1, CHUNK_SIZE), (5, len(plain) - 1), (len(plain) - 1, len(plain) - 1)]:
            assert b"".join(reader.read_range(start, end)) == plain[start : end + 1]


def test_tampering_truncation_and_wrong_key_are_detected(tmp_path, master):
    plain = os.urandom(CHUNK_SIZE * 2 + 10)
    path = tmp_path / "f.enc"
    sealed = b"".join(encrypt(master, plain))
    flipped = bytearray(sealed)
    flipped[HEADER_SIZE + CHUNK_SIZE + 50] ^= 1
    path.write_bytes(bytes(flipped))
    with EncryptedReader(master, path) as reader:
        assert b"".join(reader.read_range(0, 10)) == plain[:11]
        with pytest.raises(IntegrityError):
            b"".join(reader.read_range(CHUNK_SIZE + 40, CHUNK_SIZE + 60))
    # A dropped last chunk fails; so does a header edited to hide it (the header is AAD).
    path.write_bytes(sealed[: HEADER_SIZE + 2 * (CHUNK_SIZE + 16)])
    with EncryptedReader(master, path) as reader, pytest.raises(IntegrityError):
        reader.chunk(2)
    forged = bytearray(sealed[: HEADER_SIZE + 2 * (CHUNK_SIZE + 16)])
    forged[9:17] = (2 * CHUNK_SIZE).to_bytes(8, "big")
    path.write_bytes(bytes(forged))
    with EncryptedReader(master, path) as reader, pytest.raises(IntegrityError):
        reader.chunk(1)
    path.write_bytes(sealed)
    other = MasterKey(os.urandom(32))
    with pytest.raises(IntegrityError):
        EncryptedReader(other, path)


def test_sealed_secrets_round_trip(master):
    sealed = master.seal_text("fsp-secret")
    assert "fsp-secret" not in sealed
    assert master.open_text(sealed) == "fsp-secret"
    with pytest.raises(IntegrityError):
        MasterKey(os.urandom(32)).open_text(sealed)


def test_store_writes_atomically_and_checks(tmp_path, master):
    store = FileStore(tmp_path / "data", master)
    stored = store.put(b"x" * 1000, datetime(2024, 5, 1, 9, 30), "mp3", encrypted=True)
    assert stored.relpath.startswith("recordings/2024/05/01/")
    assert not list((tmp_path / "data").rglob("*.part"))
    assert store.read_all(stored) == b"x" * 1000
    assert store.check(stored) is None
    plain = store.put(b"y" * 10, datetime(2024, 5, 1), "wav", encrypted=False)
    assert store.path(plain.relpath).read_bytes() == b"y" * 10
    store.remove(plain.relpath)
    assert store.check(plain) == "missing"
    with pytest.raises(StorageError):
        store.path("../../etc/passwd")
