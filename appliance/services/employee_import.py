"""The employee import (CSV): planned whole, written in batches, undone whole when a batch fails."""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pony.orm import CacheIndexError, TransactionIntegrityError, db_session

from appliance.db import org_queries
from appliance.db.entities import User
from appliance.domain import employee_csv
from appliance.domain.audit import AuditType
from appliance.domain.employee_csv import RowError
from appliance.domain.events import EventKind
from appliance.domain.organization import login_of
from appliance.errors import Conflict, InvalidInput
from appliance.services import accounts, audit, events, extension_owners
from appliance.services.access import Tree
from appliance.services.context import Actor
from appliance.services.employees import (
    EmployeeSpec,
    checked_employee,
    employee_event,
    save_employee,
)
from appliance.services.passwords import hash_password

log = logging.getLogger(__name__)


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
            checked, login = checked_employee(
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
                user = save_employee(p.spec, p.login, None, hashed)
                employee_event(EventKind.EMPLOYEE_CREATED, actor, user.id, p.login, p.spec)
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
            save_employee(p.spec, p.login, user, hashed)
            employee_event(EventKind.EMPLOYEE_CHANGED, actor, user.id, p.login, p.spec)
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
