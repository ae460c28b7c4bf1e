"""Organisation tree, employees and roles; their changes keep extension ownership current."""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pony.orm import CacheIndexError, TransactionIntegrityError, db_session, flush

from appliance.db import org_queries
from appliance.db.entities import Device, Organization, Role, User, by_id
from appliance.domain import employee_csv
from appliance.domain.accounts import NO_PASSWORD, check_new_password
from appliance.domain.audit import AuditType
from appliance.domain.employee_csv import RowError
from appliance.domain.events import EventKind
from appliance.domain.organization import (
    Action,
    OrgNode,
    check_extension,
    check_org_name,
    check_person_name,
    check_phone,
    check_prefix,
    login_of,
    would_cycle,
)
from appliance.domain.rules import check_length
from appliance.errors import Conflict, InvalidInput, NotFound
from appliance.services import accounts, audit, events, extension_owners
from appliance.services.access import Tree
from appliance.services.context import Actor, utcnow
from appliance.services.passwords import hash_password

log = logging.getLogger(__name__)
ROLE_NAME_MAX = 64


# --- organisations -------------------------------------------------------------------


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
            params={"value": spec.name},
        )
    same_prefix = Organization.get(prefix=spec.prefix)
    if same_prefix is not None and same_prefix.id != org_id:
        raise Conflict(
            f"prefix {spec.prefix} is already used by {same_prefix.name}",
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


# --- roles ---------------------------------------------------------------------------


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


# --- employees -----------------------------------------------------------------------


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


def _checked_employee(
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
        raise Conflict(f"the login {login} is already taken", params={"value": login})
    if spec.password:
        check_new_password(spec.password, login)
    checked = EmployeeSpec(
        extension, name, spec.password, phone, spec.organization_id, sorted(set(spec.role_ids))
    )
    return checked, login


def _save_employee(
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
    spec, login = _checked_employee(spec, Tree.load(), _known_roles(), None)
    user = _save_employee(spec, login, None)
    extension_owners.refresh([user.id])
    audit.record(actor, AuditType.EMPLOYEE, "employee_created", login=login, name=spec.name)
    _employee_event(EventKind.EMPLOYEE_CREATED, actor, user.id, login, spec)
    return _employee_view(user)


@db_session
def update_employee(actor: Actor, user_id: int, spec: EmployeeSpec) -> EmployeeView:
    actor.require_admin()
    user = User.get(id=user_id)
    if user is None or user.organization_id is None:
        raise NotFound("no such employee")
    spec, login = _checked_employee(spec, Tree.load(), _known_roles(), user_id)
    old = user.login
    _save_employee(spec, login, user)
    extension_owners.refresh([user_id])
    audit.record(
        actor, AuditType.EMPLOYEE, "employee_changed", old=old, login=login, name=spec.name
    )
    _employee_event(EventKind.EMPLOYEE_CHANGED, actor, user_id, login, spec)
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


def _employee_event(
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


# --- CSV import ----------------------------------------------------------------------

# Rows written per transaction: each holds SQLite's write lock for milliseconds, so
# sign-ins, plays and captured calls get their turn between batches.
IMPORT_BATCH = 200


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    errors: list[RowError]


@dataclass(frozen=True)
class _Planned:
    line: int
    spec: EmployeeSpec
    login: str
    existing_id: int | None


@dataclass(frozen=True)
class _Before:
    """An updated employee as it was, to put back if a later batch fails."""

    user_id: int
    login: str
    name: str
    extension: str | None
    phone: str
    organization_id: int | None
    password_hash: str
    role_ids: list[int]


def import_employees(actor: Actor, data: bytes) -> ImportReport:
    """All rows or none: any bad row is reported with its line and nothing is imported.

    Everything is checked first (one read), passwords are hashed outside any transaction,
    then rows are written in short batches; if a batch fails (a concurrent change), the
    batches already written are undone, so the user still sees all or nothing."""
    started = time.monotonic()
    with db_session:
        actor.require_admin()
        planned, errors = _plan_import(data)
    log.info(
        "employee import: %d rows checked, %d bad (%.1f s)",
        len(planned) + len(errors),
        len(errors),
        time.monotonic() - started,
    )
    if errors:
        return ImportReport(0, 0, sorted(errors, key=lambda e: e.line))
    hashes = _hash_passwords([p.spec.password for p in planned])
    created_ids: list[int] = []
    before: list[_Before] = []
    started = time.monotonic()
    # Rows of employees a later batch rewrites may hand their extension to an earlier one.
    rewritten = {p.existing_id for p in planned if p.existing_id is not None}
    try:
        for first in range(0, len(planned), IMPORT_BATCH):
            batch = planned[first : first + IMPORT_BATCH]
            hashed = hashes[first : first + IMPORT_BATCH]
            _write_batch(actor, batch, hashed, created_ids, before, rewritten)
            log.info(
                "employee import: %d of %d rows written (%.1f s)",
                first + len(batch),
                len(planned),
                time.monotonic() - started,
            )
        created = len(created_ids)
        updated = len(planned) - created
        with db_session:
            audit.record(
                actor, AuditType.IMPORT, "employees_imported", created=created, updated=updated
            )
            events.record(EventKind.EMPLOYEES_IMPORTED, actor, created=created, updated=updated)
    except Exception as exc:
        log.warning("employee import failed after %d new rows, undoing: %s", len(created_ids), exc)
        _undo_import(actor, created_ids, before)
        if isinstance(exc, Conflict | TransactionIntegrityError | CacheIndexError):
            params = exc.params if isinstance(exc, Conflict) else {}
            return ImportReport(
                0, 0, [RowError(0, f"nothing was imported: {exc}", "changed_meanwhile", params)]
            )
        raise
    log.info("employee import: %d created, %d updated", created, updated)
    return ImportReport(created, updated, [])


def _plan_import(data: bytes) -> tuple[list[_Planned], list[RowError]]:
    try:
        text = employee_csv.decode(data)
    except ValueError as exc:
        return [], [RowError(1, str(exc), "not_text")]
    rows, errors = employee_csv.parse(text)
    tree = Tree.load()
    org_by_name = {name: org_id for org_id, name in tree.names.items()}
    role_by_name = {name: rid for rid, name, _ in org_queries.roles()}
    known_roles = set(role_by_name.values())
    seen: dict[str, int] = {}
    planned: list[_Planned] = []
    for row in rows:
        org_id = org_by_name.get(row.organization)
        if org_id is None:
            errors.append(
                RowError(
                    row.line,
                    f"no organisation named {row.organization!r}",
                    "unknown_organisation",
                    {"value": row.organization},
                    employee_csv.COLUMN_OF["organization_id"],
                )
            )
            continue
        unknown = [r for r in row.roles if r not in role_by_name]
        if unknown:
            errors.append(
                RowError(
                    row.line,
                    f"no role named {unknown[0]!r}",
                    "unknown_role",
                    {"value": unknown[0]},
                    employee_csv.COLUMN_OF["role_ids"],
                )
            )
            continue
        spec = EmployeeSpec(
            row.extension,
            row.name,
            row.password or None,
            row.phone,
            org_id,
            [role_by_name[r] for r in row.roles],
        )
        existing = User.get(login=login_of(tree.prefixes[org_id], row.extension.strip()))
        if existing is not None and existing.organization_id is None:
            errors.append(
                RowError(
                    row.line,
                    f"{existing.login} is an administrator account",
                    "administrator_account",
                    {"value": existing.login},
                    employee_csv.COLUMN_OF["extension"],
                )
            )
            continue
        try:
            checked, login = _checked_employee(
                spec, tree, known_roles, existing.id if existing else None
            )
        except (InvalidInput, Conflict) as exc:
            column = employee_csv.COLUMN_OF.get(exc.field or "")
            cell = _cell(row, exc.field)
            params = exc.params if cell is None else {"value": cell, **exc.params}
            errors.append(RowError(row.line, str(exc), exc.code, params, column))
            continue
        if login in seen:
            errors.append(
                RowError(
                    row.line,
                    f"{login} is also on line {seen[login]}",
                    "repeated_row",
                    {"value": login, "line": seen[login]},
                    employee_csv.COLUMN_OF["extension"],
                )
            )
            continue
        seen[login] = row.line
        planned.append(_Planned(row.line, checked, login, existing.id if existing else None))
    if not errors:
        errors.extend(_extension_clashes(planned, tree))
    return planned, errors


def _cell(row: employee_csv.CsvRow, attribute: str | None) -> str | None:
    """What the row holds for an employee's attribute (the password is never echoed)."""
    if attribute in ("extension", "name", "phone"):
        return str(getattr(row, attribute))
    if attribute == "organization_id":
        return row.organization
    return None


def _extension_clashes(planned: list[_Planned], tree: Tree) -> list[RowError]:
    """Rows that would give one extension on one device to two employees (checked before
    writing, since the batches are committed one by one)."""
    where: dict[int, tuple[int, str, int]] = {
        e.id: (e.organization_id, e.extension, 0) for e in org_queries.employees()
    }
    added: list[tuple[int, str, int]] = []
    for p in planned:
        entry = (p.spec.organization_id, p.spec.extension, p.line)
        if p.existing_id is not None:
            where[p.existing_id] = entry
        else:
            added.append(entry)
    owner_line: dict[tuple[int, str], int] = {}
    errors: list[RowError] = []
    for org_id, extension, line in [*where.values(), *added]:
        device = tree.device_of(org_id)
        if device is None:
            continue
        key = (device, extension)
        if key in owner_line:
            errors.append(
                RowError(
                    line or owner_line[key],
                    f"extension {extension} would belong to two employees on the same device",
                    "extension_clash",
                    {"value": extension},
                    employee_csv.COLUMN_OF["extension"],
                )
            )
        else:
            owner_line[key] = line
    return errors


def _hash_passwords(passwords: list[str | None]) -> list[str | None]:
    """Argon2 with the library's parameters, in threads (the hashing releases the GIL),
    leaving a core to the rest of the appliance; None where no password was given."""
    given = [(i, pw) for i, pw in enumerate(passwords) if pw]
    out: list[str | None] = [None] * len(passwords)
    if not given:
        return out
    workers = max(1, (os.cpu_count() or 2) - 1)
    log.info("employee import: hashing %d passwords on %d threads", len(given), workers)
    with ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="import-hash", initializer=_yield_cpu
    ) as pool:
        for (i, _), hashed in zip(
            given, pool.map(lambda g: hash_password(g[1]), given), strict=True
        ):
            out[i] = hashed
    return out


def _yield_cpu() -> None:
    """Lower this thread's priority (Linux: niceness is per thread), so sign-ins and
    capture get the CPU first while an import hashes its passwords."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def _write_batch(
    actor: Actor,
    batch: list[_Planned],
    hashes: list[str | None],
    created_ids: list[int],
    before: list[_Before],
    rewritten: set[int],
) -> None:
    with db_session:
        new_ids: list[int] = []
        old: list[_Before] = []
        for p, hashed in zip(batch, hashes, strict=True):
            if p.existing_id is None:
                if User.get(login=p.login) is not None:
                    raise Conflict(
                        f"line {p.line}: the login {p.login} was taken meanwhile",
                        code="changed_meanwhile",
                        params={"value": p.login, "line": p.line},
                    )
                user = _save_employee(p.spec, p.login, None, hashed)
                _employee_event(EventKind.EMPLOYEE_CREATED, actor, user.id, p.login, p.spec)
                new_ids.append(user.id)
                continue
            user = User.get(id=p.existing_id)
            if user is None or user.organization_id is None:
                raise Conflict(
                    f"line {p.line}: employee {p.login} was deleted meanwhile",
                    code="changed_meanwhile",
                    params={"value": p.login, "line": p.line},
                )
            roles = org_queries.roles_of_users([user.id]).get(user.id, [])
            old.append(
                _Before(
                    user.id,
                    user.login,
                    user.name,
                    user.extension,
                    user.phone or "",
                    user.organization_id,
                    user.password_hash,
                    roles,
                )
            )
            _save_employee(p.spec, p.login, user, hashed)
            _employee_event(EventKind.EMPLOYEE_CHANGED, actor, user.id, p.login, p.spec)
            if hashed:
                accounts.end_access(actor, user, AuditType.PASSWORD)
        written = {p.existing_id for p in batch if p.existing_id is not None}
        rewritten -= written  # their rows are final from here on
        extension_owners.refresh([*new_ids, *written], displace=rewritten)
    # Only once committed do the rows count as written (and need undoing on failure).
    created_ids.extend(new_ids)
    before.extend(old)


def _undo_import(actor: Actor, created_ids: list[int], before: list[_Before]) -> None:
    """Put back what the committed batches changed (one transaction: the failure is rare)."""
    with db_session:
        for user_id in created_ids:
            org_queries.delete_user_links(user_id)
            user = User.get(id=user_id)
            if user is not None:
                accounts.end_access(actor, user, AuditType.IMPORT, delete_tokens=True)
                events.record(
                    EventKind.EMPLOYEE_DELETED, actor, id=user_id, login=user.login, undone=True
                )
                user.delete()
        for b in before:
            user = User.get(id=b.user_id)
            if user is None:
                continue
            user.set(
                login=b.login,
                name=b.name,
                extension=b.extension,
                phone=b.phone,
                organization_id=b.organization_id,
                password_hash=b.password_hash,
            )
            org_queries.set_user_roles(b.user_id, b.role_ids)
            events.record(
                EventKind.EMPLOYEE_CHANGED,
                actor,
                id=b.user_id,
                login=b.login,
                name=b.name,
                extension=b.extension,
                phone=b.phone,
                organization_id=b.organization_id,
                role_ids=b.role_ids,
                undone=True,
            )
        # Extensions and recordings the committed batches re-pointed point back.
        extension_owners.refresh_all()
