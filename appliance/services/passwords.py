"""The one password hasher (argon2id, the library's defaults) every account uses."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Checked when there is no real hash to check, so that path costs the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Whether password is the one hashed; a missing hash costs a full check all the same."""
    try:
        _hasher.verify(stored_hash if stored_hash is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored_hash is not None


def is_our_kind_of_hash(stored: str) -> bool:
    """A hash this hasher made, or one that costs no more to check (an imported account's
    hash must not make every sign-in as it spend gigabytes and seconds)."""
    from argon2 import extract_parameters

    try:
        found = extract_parameters(stored)
    except (InvalidHashError, ValueError):
        return False
    ours = _hasher
    return (
        found.type is ours.type
        and found.memory_cost <= ours.memory_cost
        and found.time_cost <= ours.time_cost
        and found.parallelism <= ours.parallelism
    )
