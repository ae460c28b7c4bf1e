"""What an actor may see and do: the scope of recordings and the actions on them."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.db import org_queries, recording_queries
from appliance.db.entities import User
from appliance.db.recording_queries import RecordingRow
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


NOTHING = Scope()


@dataclass(frozen=True)
class Access:
    """What an actor sees (`scope`) and may do there: a role's actions over all of it, an
    employee's own actions over their own calls only (`own_scope`)."""

    scope: Scope
    role_actions: frozenset[Action]
    own_actions: frozenset[Action] = frozenset()
    own_scope: Scope = NOTHING

    @property
    def actions(self) -> frozenset[Action]:
        """Every action allowed somewhere: the buttons the console offers."""
        return self.role_actions | self.own_actions

    def scope_for(self, action: Action) -> Scope:
        """The recordings the action is allowed on; PermissionDenied when none."""
        if action in self.role_actions:
            return self.scope
        if action in self.own_actions:
            return self.own_scope
        raise _denied(action)


ADMIN_ACCESS = Access(EVERYTHING, frozenset(Action))


def permitted(access: Access, action: Action, ids: list[int]) -> list[RecordingRow]:
    """Call inside a db_session. The recordings among ids the actor sees (others are as if
    they did not exist); PermissionDenied if the action is not allowed on one of them."""
    visible = recording_queries.by_ids(ids, access.scope)
    if not visible:
        return []
    allowed_scope = access.scope_for(action)
    if allowed_scope == access.scope:
        return visible
    allowed = recording_queries.by_ids([r.id for r in visible], allowed_scope)
    if len(allowed) < len(visible):
        # Seen through a role that does not give the action, e.g. a play outside one's own
        # calls by a holder of only SCORE_TAG.
        raise _denied(action, " here")
    return allowed


def _denied(action: Action, where: str = "") -> PermissionDenied:
    return PermissionDenied(
        f"your roles do not allow {action.value.lower().replace('_', ' and ')}{where}"
    )


def access_of(actor: Actor) -> Access:
    """Call inside a db_session. Administrators see everything; others what their roles give."""
    if actor.is_admin:
        return ADMIN_ACCESS
    user = User.get(id=actor.user_id) if actor.user_id else None
    if user is None:
        return Access(NOTHING, frozenset())
    tree = Tree.load()
    role_ids = org_queries.roles_of_users([user.id]).get(user.id, [])
    departments: list[int] = []
    role_actions: set[Action] = set()
    roles = {rid: acts for rid, _, acts in org_queries.roles()}
    for orgs in org_queries.role_departments(role_ids).values():
        departments.extend(orgs)
    for role_id in role_ids:
        role_actions.update(Action(a) for a in roles.get(role_id, []))
    own_device = tree.device_of(user.organization_id) if user.organization_id else None
    own_extension = user.extension if own_device is not None else None
    scope = Scope(
        everything=False,
        org_ids=tree.below(departments),
        own_device=own_device,
        own_extension=own_extension,
    )
    own_scope = Scope(everything=False, own_device=own_device, own_extension=own_extension)
    own_actions = EMPLOYEE_ACTIONS if user.extension else frozenset()
    return Access(scope, frozenset(role_actions), own_actions, own_scope)


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
