"""Organisation tree, employees, roles and their links."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from appliance.db.sql import rows, run, scalar
from appliance.domain.organization import OrgNode


@dataclass(frozen=True)
class EmployeeRow:
    id: int
    login: str
    name: str
    extension: str
    phone: str
    organization_id: int


def tree() -> list[OrgNode]:
    return [
        OrgNode(*r)
        for r in rows(
            "SELECT id, name, prefix, device_id, parent_id FROM organization ORDER BY name"
        )
    ]


def employees(org_ids: Iterable[int] | None = None) -> list[EmployeeRow]:
    sql = (
        "SELECT id, login, name, extension, phone, organization_id FROM app_user "
        "WHERE organization_id IS NOT NULL"
    )
    params: list[int] = []
    if org_ids is not None:
        ids = sorted(set(org_ids))
        if not ids:
            return []
        sql += f" AND organization_id IN ({','.join('?' * len(ids))})"
        params = ids
    return [EmployeeRow(*r) for r in rows(sql + " ORDER BY organization_id, extension", params)]


def count_employees(org_id: int) -> int:
    return int(scalar("SELECT COUNT(*) FROM app_user WHERE organization_id = ?", [org_id]))


def count_children(org_id: int) -> int:
    return int(scalar("SELECT COUNT(*) FROM organization WHERE parent_id = ?", [org_id]))


def orgs_bound_to(device_id: int) -> list[str]:
    return [r[0] for r in rows("SELECT name FROM organization WHERE device_id = ?", [device_id])]


def roles() -> list[tuple[int, str, list[str]]]:
    """Every role as (id, name, actions)."""
    return [
        (r[0], r[1], _json_list(r[2]))
        for r in rows("SELECT id, name, actions FROM role ORDER BY name")
    ]


def _json_list(raw: Any) -> list[str]:
    # psycopg2 parses JSONB itself; SQLite hands back the text.
    return list(json.loads(raw) if isinstance(raw, str) else raw)


def role_departments(role_ids: Iterable[int] | None = None) -> dict[int, list[int]]:
    sql, params = "SELECT role_id, organization_id FROM role_department", []
    if role_ids is not None:
        ids = sorted(set(role_ids))
        if not ids:
            return {}
        sql += f" WHERE role_id IN ({','.join('?' * len(ids))})"
        params = ids
    out: dict[int, list[int]] = {}
    for role_id, org_id in rows(sql + " ORDER BY role_id, organization_id", params):
        out.setdefault(role_id, []).append(org_id)
    return out


def set_role_departments(role_id: int, org_ids: Iterable[int]) -> None:
    run("DELETE FROM role_department WHERE role_id = ?", [role_id])
    for org_id in sorted(set(org_ids)):
        run(
            "INSERT INTO role_department (role_id, organization_id) VALUES (?, ?)",
            [role_id, org_id],
        )


def roles_of_users(user_ids: Iterable[int]) -> dict[int, list[int]]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    out: dict[int, list[int]] = {}
    sql = f"SELECT user_id, role_id FROM user_role WHERE user_id IN ({','.join('?' * len(ids))}) ORDER BY role_id"
    for user_id, role_id in rows(sql, ids):
        out.setdefault(user_id, []).append(role_id)
    return out


def set_user_roles(user_id: int, role_ids: Iterable[int]) -> None:
    run("DELETE FROM user_role WHERE user_id = ?", [user_id])
    for role_id in sorted(set(role_ids)):
        run("INSERT INTO user_role (user_id, role_id) VALUES (?, ?)", [user_id, role_id])


def delete_role_links(role_id: int) -> None:
    run("DELETE FROM role_department WHERE role_id = ?", [role_id])
    run("DELETE FROM user_role WHERE role_id = ?", [role_id])


def delete_user_links(user_id: int) -> None:
    run("DELETE FROM user_role WHERE user_id = ?", [user_id])


def set_party_org(device_id: int, extension: str, org_id: int | None) -> None:
    """Point every recording of this extension on this device at its (new) organisation."""
    run(
        "UPDATE recording SET caller_org_id = ? WHERE device_id = ? AND caller = ?",
        [org_id, device_id, extension],
    )
    run(
        "UPDATE recording SET callee_org_id = ? WHERE device_id = ? AND callee = ?",
        [org_id, device_id, extension],
    )


def org_names(ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    sql = f"SELECT id, name FROM organization WHERE id IN ({','.join('?' * len(wanted))})"
    return {r[0]: r[1] for r in rows(sql, wanted)}
