"""The configuration a backup set may carry, and restoring it: recording settings, alarm
rules, devices, departments, roles and employees.

The document travels inside the set encrypted with the backup key, never in clear. It holds
no password in clear: employees' passwords as their Argon2 hashes; devices' secrets (the
FSP code, a pull device's password), which the devices need to keep working, only inside
that encryption, sealed again with the new appliance's master key on import.

Import creates what is missing, by its unique name (a department's name, a role's name, a
device's alias, an employee's login), and leaves what is there alone: importing twice
changes nothing. The recording settings and alarm rules are applied as saved."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from pony.orm import db_session

from appliance.db import backup_queries, org_queries, settings_queries
from appliance.db.entities import Device, Organization, Role, User, by_id
from appliance.domain.audit import AuditType
from appliance.domain.devices import DeviceMode, DeviceSpec, IntervalUnit, PullProtocol
from appliance.domain.events import EventKind
from appliance.domain.organization import Action
from appliance.domain.pull import AfterFetch, PullAuth
from appliance.domain.settings import Settings
from appliance.errors import ApplianceError, InvalidInput
from appliance.media.crypto import MasterKey
from appliance.services import (
    alarms,
    audit,
    devices,
    employees,
    extension_owners,
    organizations,
    roles,
    settings,
)
from appliance.services.access import Tree
from appliance.services.context import Actor
from appliance.services.passwords import is_our_kind_of_hash

FORMAT = "recorder-config"
VERSION = 1
DOCUMENT_MAX = 64 * 1024 * 1024


@dataclass
class ConfigCounts:
    created: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, kind: str, created: bool) -> None:
        into = self.created if created else self.skipped
        into[kind] = into.get(kind, 0) + 1


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@db_session
def export_document(master: MasterKey) -> bytes:
    org_names = {o.id: o.name for o in Organization.select()}
    aliases = {d.id: d.alias for d in Device.select()}
    role_names = {r.id: r.name for r in Role.select()}
    departments = org_queries.role_departments(list(role_names))
    users = [u for u in User.select() if u.organization_id is not None and not u.is_admin]
    user_roles = org_queries.roles_of_users([u.id for u in users])
    document = {
        "format": FORMAT,
        "version": VERSION,
        "settings": settings.current().to_store(),
        "alarm_rules": settings_queries.load_all().get(alarms.RULES_KEY, ""),
        "devices": [
            {k: _plain(v) for k, v in asdict(devices.spec_of(d, master)).items()}
            for d in Device.select().order_by(Device.id)
        ],
        "departments": [
            {
                "name": o.name,
                "prefix": o.prefix,
                "device": aliases.get(o.device_id or 0),
                "parent": org_names.get(o.parent_id or 0),
            }
            for o in _parents_first(list(Organization.select()))
        ],
        "roles": [
            {
                "name": r.name,
                "actions": list(r.actions),
                "departments": [org_names[i] for i in departments.get(r.id, []) if i in org_names],
            }
            for r in Role.select().order_by(Role.id)
        ],
        "employees": [
            {
                "login": u.login,
                "extension": u.extension or "",
                "name": u.name,
                "phone": u.phone or "",
                "department": org_names.get(u.organization_id or 0),
                "roles": [role_names[i] for i in user_roles.get(u.id, []) if i in role_names],
                "password_hash": u.password_hash,
                "enabled": u.enabled,
            }
            for u in sorted(users, key=lambda u: u.id)
        ],
    }
    return json.dumps(document, ensure_ascii=False).encode()


def _parents_first(orgs: list[Organization]) -> list[Organization]:
    by_id_ = {o.id: o for o in orgs}

    def depth(o: Organization) -> int:
        n, seen = 0, set()
        while o.parent_id in by_id_ and o.id not in seen:
            seen.add(o.id)
            o, n = by_id_[o.parent_id], n + 1
        return n

    return sorted(orgs, key=lambda o: (depth(o), o.id))


def _device_spec(raw: dict[str, Any]) -> DeviceSpec:
    return DeviceSpec(
        alias=str(raw["alias"]),
        mode=DeviceMode(raw["mode"]),
        address=str(raw["address"]),
        secret=str(raw["secret"]),
        cache_address=str(raw.get("cache_address", "")),
        pullback_hours=int(raw.get("pullback_hours", 1)),
        pull_protocol=PullProtocol(raw["pull_protocol"]) if raw.get("pull_protocol") else None,
        pull_path=str(raw.get("pull_path", "")),
        pull_username=str(raw.get("pull_username", "")),
        pull_interval=int(raw.get("pull_interval", 1)),
        pull_interval_unit=IntervalUnit(raw.get("pull_interval_unit", "DAY")),
        pull_auth=PullAuth(raw.get("pull_auth", "PASSWORD")),
        pull_pattern=str(raw.get("pull_pattern", "")),
        pull_after=AfterFetch(raw.get("pull_after", "KEEP")),
        pull_move_to=str(raw.get("pull_move_to", "")),
        pull_tls_fingerprint=str(raw.get("pull_tls_fingerprint", "")),
    )


def import_document(actor: Actor, data: bytes, master: MasterKey) -> ConfigCounts:
    """Restore what the document holds that this appliance lacks; each item on its own, so
    one refused (a clash with what is here) is reported and the rest restored."""
    actor.require_admin()
    if len(data) > DOCUMENT_MAX:
        raise InvalidInput("configuration document too large", code="not_a_backup")
    try:
        document = json.loads(data)
        if document.get("format") != FORMAT or document.get("version") != VERSION:
            raise ValueError("another format")
    except (ValueError, AttributeError) as exc:
        raise InvalidInput(f"not a configuration document: {exc}", code="not_a_backup") from None
    counts = ConfigCounts()

    def attempt(kind: str, name: str, step: Any) -> None:
        try:
            counts.add(kind, bool(step()))
        except (ApplianceError, KeyError, ValueError, TypeError) as exc:
            counts.problems.append(f"{kind} {name}: {exc}"[:300])

    attempt("settings", "", lambda: _restore_settings(actor, document))
    for raw in document.get("devices", []):
        attempt(
            "devices", str(raw.get("alias")), lambda raw=raw: _restore_device(actor, raw, master)
        )
    for raw in document.get("departments", []):
        attempt(
            "departments", str(raw.get("name")), lambda raw=raw: _restore_department(actor, raw)
        )
    for raw in document.get("roles", []):
        attempt("roles", str(raw.get("name")), lambda raw=raw: _restore_role(actor, raw))
    for raw in document.get("employees", []):
        attempt("employees", str(raw.get("login")), lambda raw=raw: _restore_employee(actor, raw))
    return counts


def _restore_settings(actor: Actor, document: dict[str, Any]) -> bool:
    """The recording settings and alarm rules as saved; whether anything changed."""
    given = {k: str(v) for k, v in (document.get("settings") or {}).items()}
    before = settings.current()
    changed = False
    if given:  # what the document leaves out stays as it is here
        saved = Settings.from_store({**before.to_store(), **given})
        after = settings.update(actor, **{k: getattr(saved, k) for k in saved.to_store()})
        changed = before.diff(after) != {}
    rules = document.get("alarm_rules")
    if rules:
        json.loads(rules)  # refused by the caller if it is not JSON
        with db_session:
            changed = changed or settings_queries.load_all().get(alarms.RULES_KEY) != rules
            settings_queries.save({alarms.RULES_KEY: rules})
    return changed


@db_session
def _restore_device(actor: Actor, raw: dict[str, Any], master: MasterKey) -> bool:
    if Device.get(alias=str(raw["alias"])) is not None:
        return False
    devices.create(actor, _device_spec(raw), master)
    return True


@db_session
def _restore_department(actor: Actor, raw: dict[str, Any]) -> bool:
    if Organization.get(name=str(raw["name"])) is not None:
        return False
    device = Device.get(alias=raw["device"]) if raw.get("device") else None
    parent = Organization.get(name=raw["parent"]) if raw.get("parent") else None
    spec = organizations.OrgSpec(
        str(raw["name"]), str(raw["prefix"]), device.id if device else None,
        parent.id if parent else None,
    )  # fmt: skip
    organizations.create_org(actor, spec)
    return True


@db_session
def _restore_role(actor: Actor, raw: dict[str, Any]) -> bool:
    if Role.get(name=str(raw["name"])) is not None:
        return False
    found = list(
        backup_queries.ids_by_name("organization", list(raw.get("departments", []))).values()
    )
    roles.create_role(
        actor, roles.RoleSpec(str(raw["name"]), found, [Action(a) for a in raw["actions"]])
    )
    return True


@db_session
def _restore_employee(actor: Actor, raw: dict[str, Any]) -> bool:
    if User.get(login=str(raw["login"])) is not None:
        return False
    org = Organization.get(name=raw.get("department") or "")
    if org is None:
        raise InvalidInput(f"no department {raw.get('department')!r}", code="unknown_organisation")
    role_ids = list(backup_queries.ids_by_name("role", list(raw.get("roles", []))).values())
    spec = employees.EmployeeSpec(
        str(raw["extension"]), str(raw["name"]), None, str(raw.get("phone", "")), org.id, role_ids
    )
    checked, login = employees.checked_employee(spec, Tree.load(), set(role_ids), None)
    hashed = str(raw["password_hash"])
    if not is_our_kind_of_hash(hashed):
        # A hash costlier than ours would make each sign-in as this login costly for anyone.
        raise InvalidInput("the password hash is not one this appliance makes", code="not_a_backup")
    user = employees.save_employee(checked, login, None, hashed=hashed)
    by_id(User, user.id).enabled = bool(raw.get("enabled", True))
    extension_owners.refresh([user.id])
    audit.record(actor, AuditType.EMPLOYEE, "employee_created", login=login, name=checked.name)
    employees.employee_event(EventKind.EMPLOYEE_CREATED, actor, user.id, login, checked)
    return True
