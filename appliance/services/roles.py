"""Roles (权限管理): what their holders may do, over which departments."""

from __future__ import annotations

from dataclasses import dataclass

from pony.orm import db_session, flush

from appliance.db import org_queries
from appliance.db.entities import Role, by_id
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.organization import Action
from appliance.domain.rules import check_length
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.services import audit, events
from appliance.services.access import Tree
from appliance.services.context import Actor, utcnow

ROLE_NAME_MAX = 64


@dataclass(frozen=True)
class RoleView:
    id: int
    name: str
    department_ids: list[int]
    actions: list[Action]


@dataclass(frozen=True)
class RoleSpec:
    name: str
    department_ids: list[int]
    actions: list[Action]


def _role_view(role_id: int) -> RoleView:
    r = by_id(Role, role_id)
    departments = org_queries.role_departments([role_id]).get(role_id, [])
    return RoleView(r.id, r.name, departments, [Action(a) for a in r.actions])


def _check_role(spec: RoleSpec, role_id: int | None) -> RoleSpec:
    name = check_length("name", spec.name.strip(), ROLE_NAME_MAX, "role name")
    same = Role.get(name=name)
    if same is not None and same.id != role_id:
        raise Conflict(f"a role named {name!r} already exists", params={"value": name})
    known = Tree.load().names
    missing = [d for d in spec.department_ids if d not in known]
    if missing:
        raise InvalidInput(
            f"no such organisation: {missing[0]}",
            field="department_ids",
            code="unknown_organisation",
            params={"value": missing[0]},
        )
    return RoleSpec(name, sorted(set(spec.department_ids)), sorted(set(spec.actions)))


@db_session
def list_roles(actor: Actor) -> list[RoleView]:
    actor.require_admin()
    return [_role_view(rid) for rid, _, _ in org_queries.roles()]


@db_session
def create_role(actor: Actor, spec: RoleSpec) -> RoleView:
    actor.require_admin()
    spec = _check_role(spec, None)
    r = Role(name=spec.name, actions=[a.value for a in spec.actions], created_at=utcnow())
    flush()
    org_queries.set_role_departments(r.id, spec.department_ids)
    audit.record(actor, AuditType.ROLE, "role_created", name=spec.name, **_describe(spec))
    _role_event(EventKind.ROLE_CREATED, actor, r.id, spec)
    return _role_view(r.id)


@db_session
def update_role(actor: Actor, role_id: int, spec: RoleSpec) -> RoleView:
    actor.require_admin()
    r = Role.get(id=role_id)
    if r is None:
        raise NotFound("no such role")
    spec = _check_role(spec, role_id)
    r.set(name=spec.name, actions=[a.value for a in spec.actions])
    org_queries.set_role_departments(role_id, spec.department_ids)
    audit.record(actor, AuditType.ROLE, "role_changed", name=spec.name, **_describe(spec))
    _role_event(EventKind.ROLE_CHANGED, actor, role_id, spec)
    return _role_view(role_id)


@db_session
def delete_role(actor: Actor, role_id: int) -> None:
    actor.require_admin()
    r = Role.get(id=role_id)
    if r is None:
        raise NotFound("no such role")
    org_queries.delete_role_links(role_id)
    audit.record(actor, AuditType.ROLE, "role_deleted", name=r.name)
    events.record(EventKind.ROLE_DELETED, actor, id=role_id, name=r.name)
    r.delete()


def _role_event(kind: EventKind, actor: Actor, role_id: int, spec: RoleSpec) -> None:
    events.record(
        kind,
        actor,
        id=role_id,
        name=spec.name,
        department_ids=spec.department_ids,
        actions=[a.value for a in spec.actions],
    )


def _describe(spec: RoleSpec) -> dict[str, str]:
    names = Tree.load().names
    return {
        "departments": ", ".join(names[d] for d in spec.department_ids) or "-",
        "actions": ", ".join(a.value for a in spec.actions) or "-",
    }
