"""The organisation tree (组织架构): departments, their prefixes and the device each records on."""

from __future__ import annotations

from dataclasses import dataclass

from pony.orm import db_session, flush

from appliance.db import org_queries
from appliance.db.entities import Device, Organization, User, by_id
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.organization import (
    OrgNode,
    check_org_name,
    check_prefix,
    login_of,
    would_cycle,
)
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.services import audit, events, extension_owners
from appliance.services.access import Tree
from appliance.services.context import Actor, utcnow

OrgView = OrgNode


@dataclass(frozen=True)
class OrgSpec:
    name: str
    prefix: str
    device_id: int | None
    parent_id: int | None


def _org_view(o: Organization) -> OrgView:
    return OrgView(o.id, o.name, o.prefix, o.device_id, o.parent_id)


@db_session
def list_orgs(actor: Actor) -> list[OrgView]:
    return org_queries.tree()


def _check_org(spec: OrgSpec, org_id: int | None) -> OrgSpec:
    spec = OrgSpec(
        check_org_name(spec.name), check_prefix(spec.prefix), spec.device_id, spec.parent_id
    )
    same_name = Organization.get(name=spec.name)
    if same_name is not None and same_name.id != org_id:
        raise Conflict(
            f"an organisation named {spec.name!r} already exists",
            field="name",
            params={"value": spec.name},
        )
    same_prefix = Organization.get(prefix=spec.prefix)
    if same_prefix is not None and same_prefix.id != org_id:
        raise Conflict(
            f"prefix {spec.prefix} is already used by {same_prefix.name}",
            field="prefix",
            params={"value": spec.prefix, "by": same_prefix.name},
        )
    if spec.device_id is not None and Device.get(id=spec.device_id) is None:
        raise InvalidInput(
            "no such device",
            field="device_id",
            code="unknown_device",
            params={"value": spec.device_id},
        )
    if spec.parent_id is not None:
        if Organization.get(id=spec.parent_id) is None:
            raise InvalidInput(
                "no such parent organisation",
                field="parent_id",
                code="unknown_organisation",
                params={"value": spec.parent_id},
            )
        if org_id is not None and would_cycle(org_id, spec.parent_id, Tree.load().parents):
            raise InvalidInput(
                "an organisation cannot be moved under itself", field="parent_id", code="cycle"
            )
    return spec


@db_session
def create_org(actor: Actor, spec: OrgSpec) -> OrgView:
    actor.require_admin()
    spec = _check_org(spec, None)
    o = Organization(
        name=spec.name,
        prefix=spec.prefix,
        device_id=spec.device_id,
        parent_id=spec.parent_id,
        created_at=utcnow(),
    )
    flush()
    audit.record(actor, AuditType.ORGANIZATION, "org_created", name=spec.name, prefix=spec.prefix)
    _org_event(EventKind.ORGANIZATION_CREATED, actor, o.id, spec)
    return _org_view(o)


@db_session
def update_org(actor: Actor, org_id: int, spec: OrgSpec) -> OrgView:
    """Rename, re-prefix (employees' logins follow), rebind or move an organisation."""
    actor.require_admin()
    o = Organization.get(id=org_id)
    if o is None:
        raise NotFound("no such organisation")
    spec = _check_org(spec, org_id)
    old_name, old_prefix = o.name, o.prefix
    old_place = (o.device_id, o.parent_id)
    o.set(name=spec.name, prefix=spec.prefix, device_id=spec.device_id, parent_id=spec.parent_id)
    if spec.prefix != old_prefix:
        for e in org_queries.employees([org_id]):
            new_login = login_of(spec.prefix, e.extension)
            clash = User.get(login=new_login)
            if clash is not None and clash.id != e.id:
                raise Conflict(
                    f"the new prefix would give {e.name} the login {new_login}, already taken",
                    field="prefix",
                    params={"value": new_login},
                )
            by_id(User, e.id).login = new_login
    if (spec.device_id, spec.parent_id) != old_place:
        extension_owners.refresh_orgs([org_id])
    audit.record(
        actor,
        AuditType.ORGANIZATION,
        "org_changed",
        old_name=old_name,
        old_prefix=old_prefix,
        name=spec.name,
        prefix=spec.prefix,
    )
    _org_event(EventKind.ORGANIZATION_CHANGED, actor, org_id, spec)
    return _org_view(o)


@db_session
def delete_org(actor: Actor, org_id: int) -> None:
    actor.require_admin()
    o = Organization.get(id=org_id)
    if o is None:
        raise NotFound("no such organisation")
    if org_queries.count_children(org_id):
        raise Conflict(
            f"{o.name} has sub-organisations; move or delete them first",
            code="in_use",
            params={"value": o.name, "by": "organisations"},
        )
    if org_queries.count_employees(org_id):
        raise Conflict(
            f"{o.name} still has employees; move or delete them first",
            code="in_use",
            params={"value": o.name, "by": "employees"},
        )
    for role_id, orgs in org_queries.role_departments().items():
        if org_id in orgs:
            org_queries.set_role_departments(role_id, [i for i in orgs if i != org_id])
    audit.record(actor, AuditType.ORGANIZATION, "org_deleted", name=o.name, prefix=o.prefix)
    events.record(EventKind.ORGANIZATION_DELETED, actor, id=org_id, name=o.name, prefix=o.prefix)
    o.delete()


def _org_event(kind: EventKind, actor: Actor, org_id: int, spec: OrgSpec) -> None:
    events.record(
        kind,
        actor,
        id=org_id,
        name=spec.name,
        prefix=spec.prefix,
        device_id=spec.device_id,
        parent_id=spec.parent_id,
    )
