"""The backup key and its key file: one random key encrypts every backed-up file; a key
derived from the administrator's passphrase with Argon2id (memory-hard) wraps it.

A set carries its key file, so a new appliance with none of the old keys restores it with
the passphrase alone. Changing the passphrase rewraps the same key: nothing else changes.
The key file says how it was made (self-describing); its KDF costs are bounded on reading,
so a hostile set cannot make the importer spend gigabytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.errors import IntegrityError, InvalidInput
from appliance.media.crypto import MasterKey

FORMAT = "recorder-backup"
VERSION = 1
KEY_BYTES = 32
# 64 MiB and three passes: about a quarter of a second here, per guess for an attacker too.
TIME_COST = 3
MEMORY_KIB = 64 * 1024
PARALLELISM = 2
# A hostile set's key file may ask for more: opening one then costs at most ~3 s and 256 MiB.
MEMORY_KIB_MAX = 256 * 1024
TIME_COST_MAX = 8
KEY_FILE_MAX = 4096
_AAD = b"recorder-backup-key-v1"


class WrongPassphrase(IntegrityError):
    """The passphrase does not open this key file."""


def new_backup_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def key_id(key: bytes) -> str:
    """Names a backup key without revealing it: which sets share one key."""
    return hashlib.sha256(b"recorder-backup-key-id" + key).hexdigest()[:16]


def file_cipher(key: bytes) -> MasterKey:
    """Backed-up files use the store's chunked format, with the backup key as their master."""
    return MasterKey(key)


@dataclass(frozen=True)
class KeyFile:
    salt: bytes
    time_cost: int
    memory_kib: int
    parallelism: int
    nonce: bytes
    wrapped: bytes
    key_id: str

    def _kdf(self) -> dict[str, Any]:
        return {
            "name": "argon2id",
            "salt": base64.b64encode(self.salt).decode(),
            "time_cost": self.time_cost,
            "memory_kib": self.memory_kib,
            "parallelism": self.parallelism,
        }

    def to_bytes(self) -> bytes:
        document = {
            "format": FORMAT,
            "version": VERSION,
            "kdf": self._kdf(),
            "wrap": {
                "cipher": "AES-256-GCM",
                "nonce": base64.b64encode(self.nonce).decode(),
                "key": base64.b64encode(self.wrapped).decode(),
            },
            "key_id": self.key_id,
            "files": "RCE1: AES-256-GCM in 64 KiB chunks, one data key per file, wrapped",
        }
        return json.dumps(document, indent=1).encode() + b"\n"

    @property
    def version_tag(self) -> str:
        """Which wrapping this is: a changed passphrase gives another."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:16]

    @classmethod
    def parse(cls, data: bytes) -> KeyFile:
        if len(data) > KEY_FILE_MAX:
            raise InvalidInput("not a backup key file: too large", code="not_a_backup")
        try:
            document = json.loads(data)
            kdf, wrap = document["kdf"], document["wrap"]
            if document["format"] != FORMAT or kdf["name"] != "argon2id":
                raise ValueError("another format")
            if document["version"] != VERSION:
                raise ValueError(f"version {document['version']}")
            found = cls(
                salt=base64.b64decode(kdf["salt"], validate=True),
                time_cost=int(kdf["time_cost"]),
                memory_kib=int(kdf["memory_kib"]),
                parallelism=int(kdf["parallelism"]),
                nonce=base64.b64decode(wrap["nonce"], validate=True),
                wrapped=base64.b64decode(wrap["key"], validate=True),
                key_id=str(document["key_id"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"not a backup key file: {exc}", code="not_a_backup") from None
        if not (
            1 <= found.time_cost <= TIME_COST_MAX
            and 8 * found.parallelism <= found.memory_kib <= MEMORY_KIB_MAX
            and 1 <= found.parallelism <= 8
            and 8 <= len(found.salt) <= 64
            and len(found.nonce) == 12
        ):
            raise InvalidInput("backup key file: costs out of bounds", code="not_a_backup")
        return found


def _derive(passphrase: str, salt: bytes, time_cost: int, memory_kib: int, lanes: int) -> bytes:
    return hash_secret_raw(
        passphrase.encode(), salt, time_cost, memory_kib, lanes, KEY_BYTES, Type.ID
    )


def wrap(key: bytes, passphrase: str) -> KeyFile:
    salt = os.urandom(16)
    kek = _derive(passphrase, salt, TIME_COST, MEMORY_KIB, PARALLELISM)
    nonce = os.urandom(12)
    draft = KeyFile(salt, TIME_COST, MEMORY_KIB, PARALLELISM, nonce, b"", key_id(key))
    wrapped = AESGCM(kek).encrypt(nonce, key, _AAD + json.dumps(draft._kdf()).encode())
    return KeyFile(salt, TIME_COST, MEMORY_KIB, PARALLELISM, nonce, wrapped, key_id(key))


def unwrap(found: KeyFile, passphrase: str) -> bytes:
    kek = _derive(passphrase, found.salt, found.time_cost, found.memory_kib, found.parallelism)
    try:
        key = AESGCM(kek).decrypt(
            found.nonce, found.wrapped, _AAD + json.dumps(found._kdf()).encode()
        )
    except InvalidTag:
        raise WrongPassphrase("the passphrase does not open this backup") from None
    if len(key) != KEY_BYTES or key_id(key) != found.key_id:
        raise WrongPassphrase("the backup key file is inconsistent")
    return key
