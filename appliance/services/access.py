"""What an actor may see and do: the scope of recordings and the actions on them."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.db import org_queries
from appliance.db.entities import User
from appliance.domain.organization import (
    EMPLOYEE_ACTIONS,
    EVERYTHING,
    Action,
    Scope,
    effective_device,
    with_descendants,
)
from appliance.errors import PermissionDenied
from appliance.services.context import Actor


@dataclass(frozen=True)
class Tree:
    """The organisation tree as maps, loaded once per use case."""

    parents: dict[int, int | None]
    devices: dict[int, int | None]
    names: dict[int, str]
    prefixes: dict[int, str]

    @classmethod
    def load(cls) -> Tree:
        rows = org_queries.tree()
        return cls(
            {r.id: r.parent_id for r in rows},
            {r.id: r.device_id for r in rows},
            {r.id: r.name for r in rows},
            {r.id: r.prefix for r in rows},
        )

    def id_of(self, name: str) -> int | None:
        return next((i for i, n in self.names.items() if n == name), None)

    def device_of(self, org_id: int) -> int | None:
        return effective_device(org_id, self.parents, self.devices)

    def below(self, org_ids: list[int]) -> frozenset[int]:
        return with_descendants(org_ids, self.parents)


@dataclass(frozen=True)
class Access:
    scope: Scope
    actions: frozenset[Action]

    def require(self, action: Action) -> None:
        if action not in self.actions:
            raise PermissionDenied(
                f"your roles do not allow {action.value.lower().replace('_', ' and ')}"
            )


ADMIN_ACCESS = Access(EVERYTHING, frozenset(Action))


def access_of(actor: Actor) -> Access:
    """Call inside a db_session. Administrators see everything; others what their roles give."""
    if actor.is_admin:
        return ADMIN_ACCESS
    user = User.get(id=actor.user_id) if actor.user_id else None
    if user is None:
        return Access(Scope(), frozenset())
    tree = Tree.load()
    role_ids = org_queries.roles_of_users([user.id]).get(user.id, [])
    departments: list[int] = []
    actions = set(EMPLOYEE_ACTIONS) if user.extension else set()
    roles = {rid: acts for rid, _, acts in org_queries.roles()}
    for orgs in org_queries.role_departments(role_ids).values():
        departments.extend(orgs)
    for role_id in role_ids:
        actions.update(Action(a) for a in roles.get(role_id, "").split(",") if a)
    own_device = tree.device_of(user.organization_id) if user.organization_id else None
    scope = Scope(
        everything=False,
        org_ids=tree.below(departments),
        own_device=own_device,
        own_extension=user.extension if own_device is not None else None,
    )
    return Access(scope, frozenset(actions))


@dataclass(frozen=True)
class Profile:
    extension: str | None
    organization: str | None
    actions: list[Action]


def profile(actor: Actor) -> Profile:
    """What the console shows of the signed-in person and which buttons it offers."""
    from pony.orm import db_session

    with db_session:
        access = access_of(actor)
        user = User.get(id=actor.user_id) if actor.user_id else None
        org = None
        if user is not None and user.organization_id:
            org = Tree.load().names.get(user.organization_id)
        return Profile(user.extension if user else None, org, sorted(access.actions))
