"""Who owns an extension on a device: kept in a table, changed in the transaction that
changes an employee or the device an organisation records on, so a call's parties are
found by a lookup instead of a walk over every employee."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pony.orm import db_session, flush

from appliance.db import org_queries, owner_queries
from appliance.db.owner_queries import Key, Owner
from appliance.errors import Conflict
from appliance.services.access import Tree


@dataclass(frozen=True)
class OwnerTable:
    """The whole table at one revision, as the capture keeps it in memory."""

    revision: int
    owners: tuple[tuple[int, str, int], ...]  # (device id, extension, organisation id)


NO_OWNERS = OwnerTable(0, ())  # before the first read: revisions start at 1


def party_orgs(device_id: int | None, caller: str, callee: str) -> tuple[int | None, int | None]:
    """The organisations of a call's two parties, as the recording stores them."""
    if device_id is None:
        return None, None
    found = owner_queries.orgs_on(device_id, (caller, callee))
    return found.get(caller), found.get(callee)


@db_session
def table(known_revision: int | None = None) -> OwnerTable | None:
    """The table, or None when it is still at `known_revision` (the caller's copy holds)."""
    revision = owner_queries.revision()
    if revision == known_revision:
        return None
    return OwnerTable(revision, tuple(owner_queries.everything()))


def _clash(extension: str) -> Conflict:
    return Conflict(
        f"extension {extension} would belong to two employees on the same device",
        code="extension_clash",
        params={"value": extension},
    )


def refresh(user_ids: Iterable[int], *, displace: Iterable[int] = ()) -> None:
    """Bring the rows of these users to what they are now (inside the caller's transaction)
    and point the recordings of every extension whose owner changed at the new one.

    `displace`: users whose rows a later step will write again (an import's later batches);
    an extension one of them still holds passes to its new owner instead of clashing."""
    flush()
    ids = set(user_ids)
    movable = set(displace) - ids
    tree = Tree.load()
    after: dict[Key, Owner] = {}
    for user_id, extension, org_id in owner_queries.employees(ids):
        device = tree.device_of(org_id)
        if device is None:
            continue
        key = (device, extension)
        if key in after:
            raise _clash(extension)
        after[key] = Owner(user_id, org_id)
    before = owner_queries.of_users(ids)
    for key, holder in owner_queries.at(after.keys() - before.keys()).items():
        if holder.user_id not in movable:
            raise _clash(key[1])
        before[key] = holder
    if before == after:
        return
    owner_queries.remove(before.keys())
    for key, owner in after.items():
        owner_queries.add(key, owner)
    owner_queries.bump_revision()
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        old_org = old.organization_id if old else None
        new_org = new.organization_id if new else None
        if old_org != new_org:
            org_queries.set_party_org(key[0], key[1], new_org)


def refresh_orgs(org_ids: Iterable[int]) -> None:
    """After an organisation's device or parent changed: its employees and those below."""
    flush()
    below = Tree.load().below(list(org_ids))
    refresh(e.id for e in org_queries.employees(below))


def refresh_all() -> None:
    """Every employee and every row (after undoing part of an import)."""
    flush()
    refresh({e.id for e in org_queries.employees()} | set(owner_queries.user_ids()))
