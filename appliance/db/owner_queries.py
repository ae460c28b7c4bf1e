"""The extension-ownership table: which employee (and organisation) an extension on a
device belongs to, and its revision, which rises with every change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from appliance.db.sql import rows, run, scalar

CHUNK = 500  # ids per IN (...): under every SQLite build's variable limit

Key = tuple[int, str]  # (device id, extension)


@dataclass(frozen=True)
class Owner:
    user_id: int
    organization_id: int


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for first in range(0, len(values), CHUNK):
        yield values[first : first + CHUNK]


def of_users(user_ids: Iterable[int]) -> dict[Key, Owner]:
    out: dict[Key, Owner] = {}
    for ids in _chunks(sorted(set(user_ids))):
        sql = (
            "SELECT device_id, extension, user_id, organization_id FROM extension_owner "
            f"WHERE user_id IN ({','.join('?' * len(ids))})"
        )
        for device_id, extension, user_id, org_id in rows(sql, ids):
            out[(device_id, extension)] = Owner(user_id, org_id)
    return out


def at(keys: Iterable[Key]) -> dict[Key, Owner]:
    """The owners of these keys, if any."""
    out: dict[Key, Owner] = {}
    for device_id, extension in sorted(set(keys)):
        found = rows(
            "SELECT user_id, organization_id FROM extension_owner "
            "WHERE device_id = ? AND extension = ?",
            [device_id, extension],
        )
        if found:
            out[(device_id, extension)] = Owner(*found[0])
    return out


def orgs_on(device_id: int, extensions: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(extensions))
    if not wanted:
        return {}
    sql = (
        "SELECT extension, organization_id FROM extension_owner "
        f"WHERE device_id = ? AND extension IN ({','.join('?' * len(wanted))})"
    )
    return {ext: org for ext, org in rows(sql, [device_id, *wanted])}


def everything() -> list[tuple[int, str, int]]:
    """(device id, extension, organisation id) of every owned extension."""
    return [
        (d, e, o)
        for d, e, o in rows(
            "SELECT device_id, extension, organization_id FROM extension_owner "
            "ORDER BY device_id, extension"
        )
    ]


def user_ids() -> list[int]:
    return [r[0] for r in rows("SELECT DISTINCT user_id FROM extension_owner")]


def employees(user_ids: Iterable[int]) -> list[tuple[int, str, int]]:
    """(user id, extension, organisation id) of those of these users that are employees."""
    out: list[tuple[int, str, int]] = []
    for ids in _chunks(sorted(set(user_ids))):
        sql = (
            "SELECT id, extension, organization_id FROM app_user WHERE organization_id IS NOT NULL "
            f"AND extension IS NOT NULL AND id IN ({','.join('?' * len(ids))})"
        )
        out.extend((u, e, o) for u, e, o in rows(sql, ids))
    return out


def remove(keys: Iterable[Key]) -> None:
    for device_id, extension in keys:
        run(
            "DELETE FROM extension_owner WHERE device_id = ? AND extension = ?",
            [device_id, extension],
        )


def add(key: Key, owner: Owner) -> None:
    run(
        "INSERT INTO extension_owner (device_id, extension, user_id, organization_id) "
        "VALUES (?, ?, ?, ?)",
        [key[0], key[1], owner.user_id, owner.organization_id],
    )


def revision() -> int:
    return int(scalar("SELECT revision FROM extension_owner_revision WHERE id = 1") or 0)


def bump_revision() -> None:
    run("UPDATE extension_owner_revision SET revision = revision + 1 WHERE id = 1")
