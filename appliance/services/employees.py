"""Employees: people with an extension in a department, their sign-in and roles; each change keeps extension ownership current."""

from __future__ import annotations

from dataclasses import dataclass

from pony.orm import db_session, flush

from appliance.db import org_queries
from appliance.db.entities import User
from appliance.domain.accounts import NO_PASSWORD, check_new_password
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.organization import (
    check_extension,
    check_person_name,
    check_phone,
    login_of,
)
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.services import accounts, audit, events, extension_owners
from appliance.services.access import Tree
from appliance.services.context import Actor, utcnow
from appliance.services.passwords import hash_password


@dataclass(frozen=True)
class EmployeeView:
    id: int
    login: str
    extension: str
    name: str
    phone: str
    organization_id: int
    role_ids: list[int]


@dataclass(frozen=True)
class EmployeeSpec:
    extension: str
    name: str
    password: str | None
    phone: str
    organization_id: int
    role_ids: list[int]


def _employee_view(u: User) -> EmployeeView:
    roles = org_queries.roles_of_users([u.id]).get(u.id, [])
    return EmployeeView(
        u.id, u.login, u.extension or "", u.name, u.phone or "", u.organization_id, roles
    )


@db_session
def list_employees(
    actor: Actor, org_id: int | None, include_below: bool = True
) -> list[EmployeeView]:
    actor.require_admin()
    tree = Tree.load()
    orgs = None if org_id is None else (tree.below([org_id]) if include_below else {org_id})
    found = org_queries.employees(orgs)
    roles = org_queries.roles_of_users(e.id for e in found)
    return [
        EmployeeView(
            e.id, e.login, e.extension, e.name, e.phone, e.organization_id, roles.get(e.id, [])
        )
        for e in found
    ]


def checked_employee(
    spec: EmployeeSpec, tree: Tree, known_roles: set[int], user_id: int | None
) -> tuple[EmployeeSpec, str]:
    extension = check_extension(spec.extension)
    name = check_person_name(spec.name)
    phone = check_phone(spec.phone)
    if spec.organization_id not in tree.names:
        raise InvalidInput(
            "no such organisation",
            field="organization_id",
            code="unknown_organisation",
            params={"value": spec.organization_id},
        )
    missing = [r for r in spec.role_ids if r not in known_roles]
    if missing:
        raise InvalidInput(
            f"no such role: {missing[0]}",
            field="role_ids",
            code="unknown_role",
            params={"value": missing[0]},
        )
    login = login_of(tree.prefixes[spec.organization_id], extension)
    clash = User.get(login=login)
    if clash is not None and clash.id != user_id:
        # The login is the prefix and the extension: in a department, the extension is taken.
        raise Conflict(
            f"the login {login} is already taken", field="extension", params={"value": login}
        )
    if spec.password:
        check_new_password(spec.password, login)
    checked = EmployeeSpec(
        extension, name, spec.password, phone, spec.organization_id, sorted(set(spec.role_ids))
    )
    return checked, login


def save_employee(
    spec: EmployeeSpec, login: str, user: User | None, hashed: str | None = None
) -> User:
    """Create or update; `hashed` is spec.password already hashed (the import does that
    outside its transactions)."""
    if spec.password and hashed is None:
        hashed = hash_password(spec.password)
    if user is None:
        user = User(
            login=login,
            name=spec.name,
            # No password given: none that can sign in, until an administrator sets one.
            password_hash=hashed or NO_PASSWORD,
            is_admin=False,
            must_change_password=False,
            failed_logins=0,
            enabled=True,
            created_at=utcnow(),
            extension=spec.extension,
            phone=spec.phone,
            organization_id=spec.organization_id,
        )
        flush()
    else:
        user.set(
            login=login,
            name=spec.name,
            extension=spec.extension,
            phone=spec.phone,
            organization_id=spec.organization_id,
        )
        if hashed:
            user.password_hash = hashed
    org_queries.set_user_roles(user.id, spec.role_ids)
    return user


def _known_roles() -> set[int]:
    return {rid for rid, _, _ in org_queries.roles()}


@db_session
def create_employee(actor: Actor, spec: EmployeeSpec) -> EmployeeView:
    actor.require_admin()
    spec, login = checked_employee(spec, Tree.load(), _known_roles(), None)
    user = save_employee(spec, login, None)
    extension_owners.refresh([user.id])
    audit.record(actor, AuditType.EMPLOYEE, "employee_created", login=login, name=spec.name)
    employee_event(EventKind.EMPLOYEE_CREATED, actor, user.id, login, spec)
    return _employee_view(user)


@db_session
def update_employee(actor: Actor, user_id: int, spec: EmployeeSpec) -> EmployeeView:
    actor.require_admin()
    user = User.get(id=user_id)
    if user is None or user.organization_id is None:
        raise NotFound("no such employee")
    spec, login = checked_employee(spec, Tree.load(), _known_roles(), user_id)
    old = user.login
    save_employee(spec, login, user)
    extension_owners.refresh([user_id])
    audit.record(
        actor, AuditType.EMPLOYEE, "employee_changed", old=old, login=login, name=spec.name
    )
    employee_event(EventKind.EMPLOYEE_CHANGED, actor, user_id, login, spec)
    if spec.password:
        # A password set by an administrator ends whatever the old one let in.
        accounts.end_access(actor, user, AuditType.PASSWORD)
    return _employee_view(user)


@db_session
def delete_employee(actor: Actor, user_id: int) -> None:
    actor.require_admin()
    user = User.get(id=user_id)
    if user is None or user.organization_id is None:
        raise NotFound("no such employee")
    org_queries.delete_user_links(user_id)
    # Sessions and tokens reference the account: they go with it, in this transaction.
    # Tags, scores and plays keep the id as history (they have no foreign key).
    accounts.end_access(actor, user, AuditType.EMPLOYEE, delete_tokens=True)
    audit.record(actor, AuditType.EMPLOYEE, "employee_deleted", login=user.login, name=user.name)
    events.record(
        EventKind.EMPLOYEE_DELETED,
        actor,
        id=user_id,
        login=user.login,
        name=user.name,
        extension=user.extension,
        organization_id=user.organization_id,
    )
    user.delete()
    extension_owners.refresh([user_id])


def employee_event(
    kind: EventKind, actor: Actor, user_id: int, login: str, spec: EmployeeSpec
) -> None:
    """The employee as saved, never its password."""
    events.record(
        kind,
        actor,
        id=user_id,
        login=login,
        name=spec.name,
        extension=spec.extension,
        phone=spec.phone,
        organization_id=spec.organization_id,
        role_ids=spec.role_ids,
        password_set=bool(spec.password),
    )
