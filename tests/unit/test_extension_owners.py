"""The extension-ownership table on SQLite: every change of employees, organisations and
devices leaves it equal to what a walk over every employee gives, in the change's own
transaction, and re-points the recordings of the extensions whose owner changed."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pony.orm import db_session

from appliance.db import owner_queries
from appliance.db.entities import Organization, Recording
from appliance.db.migrations import v15_extension_owner
from appliance.db.sql import rows, run
from appliance.domain.devices import DeviceMode, DeviceSpec
from appliance.errors import Conflict
from appliance.media.crypto import MasterKey
from appliance.services import devices, employee_import, employees, extension_owners, organizations
from appliance.services.access import Tree
from appliance.services.context import Actor
from appliance.services.employees import EmployeeSpec
from appliance.services.organizations import OrgSpec

ADMIN = Actor(1, "admin", "Administrator", True, "127.0.0.1", "session")
MASTER = MasterKey(os.urandom(32))
_serial = itertools.count(1)


@pytest.fixture(autouse=True)
def _database(sqlite_database) -> Iterator[None]:
    """Every test checks the whole table afterwards, whatever it changed."""
    yield
    with db_session:
        assert _table() == _walked()


def _table() -> set[tuple[int, str, int]]:
    return set(owner_queries.everything())


def _walked() -> set[tuple[int, str, int]]:
    """The owners as the old code worked them out: every employee, up the tree."""
    tree = Tree.load()
    out = set()
    for u, extension, org in rows(
        "SELECT id, extension, organization_id FROM app_user "
        "WHERE organization_id IS NOT NULL AND extension IS NOT NULL"
    ):
        device = tree.device_of(org)
        if device is not None:
            out.add((device, extension, org))
    return out


def _letters(n: int) -> str:
    """A fresh organisation prefix (1-4 upper-case letters) per call."""
    out = ""
    while True:
        out = chr(ord("A") + n % 26) + out
        n //= 26
        if not n:
            return out


def _device() -> int:
    spec = DeviceSpec(f"gw{next(_serial)}", DeviceMode.PUSH, "127.0.0.1", "a-device-secret")
    return devices.create(ADMIN, spec, MASTER).id


def _org(device_id: int | None = None, parent_id: int | None = None) -> int:
    n = next(_serial)
    return organizations.create_org(
        ADMIN, OrgSpec(f"org{n}", _letters(1000 + n), device_id, parent_id)
    ).id


def _employee(org_id: int, extension: str) -> int:
    spec = EmployeeSpec(extension, f"E{extension}", None, "", org_id, [])
    return employees.create_employee(ADMIN, spec).id


def _move_employee(user_id: int, org_id: int, extension: str) -> None:
    spec = EmployeeSpec(extension, f"E{extension}", None, "", org_id, [])
    employees.update_employee(ADMIN, user_id, spec)


def _reorg(org_id: int, device_id: int | None, parent_id: int | None) -> None:
    with db_session:
        o = Organization[org_id]
        name, prefix = o.name, o.prefix
    organizations.update_org(ADMIN, org_id, OrgSpec(name, prefix, device_id, parent_id))


def _owners(device_id: int) -> dict[str, int]:
    with db_session:
        return {e: o for d, e, o in owner_queries.everything() if d == device_id}


def _revision() -> int:
    with db_session:
        return owner_queries.revision()


def _recording(device_id: int, caller: str, callee: str) -> int:
    n = next(_serial)
    at = datetime(2024, 5, 1, 1, 30, tzinfo=UTC)
    with db_session:
        r = Recording(
            sn=f"own-{n}", device_id=device_id, call_id=f"own{n}", kind="call",
            caller=caller, callee=callee, started_at=at, duration=1, duration_ms=1000,
            play_count=0, tag_count=0, file_format="MP3", relpath=f"own/{n}.mp3", disk_size=1,
            plain_size=1, sha256="x", encrypted=True, source="upload", created_at=at,
        )
        r.flush()
        return int(r.id)


def _party_orgs(device_id: int, caller: str, callee: str) -> tuple[int | None, int | None]:
    with db_session:
        return extension_owners.party_orgs(device_id, caller, callee)


def _parties(recording_id: int) -> tuple[int | None, int | None]:
    with db_session:
        r = Recording[recording_id]
        return r.caller_org_id, r.callee_org_id


def test_an_employee_owns_the_extension_on_the_device_the_department_records_on():
    device = _device()
    top = _org(device)
    below = _org(None, top)
    before = _revision()
    _employee(below, "201")
    assert _owners(device) == {"201": below}
    assert _revision() > before
    assert _party_orgs(device, "201", "999") == (below, None)


def test_an_employee_of_a_department_on_no_device_owns_nothing():
    org = _org()
    before = _revision()
    _employee(org, "202")
    assert _revision() == before  # nothing changed: the capture keeps its copy


def test_changing_an_extension_or_department_moves_the_row_and_re_points_recordings():
    device, other = _device(), _device()
    a, b = _org(device), _org(other)
    user = _employee(a, "301")
    old_call, new_call = _recording(device, "301", "999"), _recording(device, "999", "302")
    _move_employee(user, a, "302")
    assert _owners(device) == {"302": a}
    assert _parties(old_call) == (None, None) and _parties(new_call) == (None, a)
    on_other = _recording(other, "302", "1")
    _move_employee(user, b, "302")
    assert _owners(device) == {} and _owners(other) == {"302": b}
    assert _parties(new_call) == (None, None) and _parties(on_other) == (b, None)


def test_deleting_an_employee_frees_the_extension():
    device = _device()
    org = _org(device)
    user = _employee(org, "401")
    call = _recording(device, "401", "1")
    assert _parties(call) == (None, None)  # stored before the ownership: not re-pointed yet
    employees.delete_employee(ADMIN, user)
    assert _owners(device) == {}
    _employee(org, "401")  # the extension is free again
    assert _owners(device) == {"401": org} and _parties(call) == (org, None)


def test_rebinding_a_department_moves_its_employees_and_those_below():
    d1, d2 = _device(), _device()
    top = _org(d1)
    sub = _org(None, top)
    _employee(top, "501")
    _employee(sub, "502")
    call = _recording(d2, "502", "501")
    _reorg(top, d2, None)
    assert _owners(d1) == {} and _owners(d2) == {"501": top, "502": sub}
    assert _parties(call) == (sub, top)
    _reorg(top, None, None)
    assert _owners(d2) == {} and _parties(call) == (None, None)


def test_moving_a_department_under_one_that_records_on_another_device():
    d1, d2 = _device(), _device()
    here, there = _org(d1), _org(d2)
    moved = _org(None, here)
    deeper = _org(None, moved)
    bound_below = _org(d1, moved)  # records on its own device wherever it sits
    _employee(moved, "601")
    _employee(deeper, "602")
    _employee(bound_below, "603")
    old_call = _recording(d1, "601", "602")
    before = _revision()
    _reorg(moved, None, there)
    assert _owners(d1) == {"603": bound_below}
    assert _owners(d2) == {"601": moved, "602": deeper}
    assert _revision() > before
    assert _parties(old_call) == (None, None)
    new_call = _recording(d2, "601", "602")
    assert _party_orgs(d2, "601", "602") == (moved, deeper)
    _reorg(moved, None, here)
    assert _owners(d1) == {"601": moved, "602": deeper, "603": bound_below}
    assert _owners(d2) == {}
    assert _parties(old_call) == (moved, deeper) and _parties(new_call) == (None, None)


def test_a_move_that_would_give_an_extension_two_owners_is_refused_and_changes_nothing():
    d1, d2 = _device(), _device()
    here, there = _org(d1), _org(d2)
    moved = _org(None, here)
    _employee(moved, "701")
    _employee(there, "701")
    before = (_owners(d1), _owners(d2), _revision())
    with pytest.raises(Conflict):
        _reorg(moved, None, there)
    with pytest.raises(Conflict):
        _reorg(here, d2, None)
    assert (_owners(d1), _owners(d2), _revision()) == before
    with db_session:
        assert Organization[moved].parent_id == here


def test_two_employees_cannot_share_an_extension_on_one_device():
    device = _device()
    a, b = _org(device), _org(device)
    _employee(a, "801")
    with pytest.raises(Conflict):
        _employee(b, "801")
    user = _employee(b, "802")
    with pytest.raises(Conflict):
        _move_employee(user, b, "801")
    assert _owners(device) == {"801": a, "802": b}


def test_deleting_departments_and_devices_leaves_no_row_behind():
    device = _device()
    org = _org(device)
    user = _employee(org, "901")
    with pytest.raises(Conflict):
        devices.delete(ADMIN, device)  # bound: refused, the rows stay
    with pytest.raises(Conflict):
        organizations.delete_org(ADMIN, org)  # has an employee
    employees.delete_employee(ADMIN, user)
    organizations.delete_org(ADMIN, org)
    devices.delete(ADMIN, device)
    assert _owners(device) == {}


def test_an_import_adds_owners_and_a_failed_one_leaves_none():
    device = _device()
    org = _org(device)
    with db_session:
        name = Organization[org].name
    header = "分机号,姓名,密码,联络电话,所属组织,角色"
    good = "\r\n".join([header, f"1001,A,,,{name},", f"1002,B,,,{name},"]) + "\r\n"
    report = employee_import.import_employees(ADMIN, good.encode())
    assert (report.created, report.errors) == (2, [])
    assert _owners(device) == {"1001": org, "1002": org}
    again = "\r\n".join([header, f"1001,A2,,,{name},", f"1003,C,,,{name},"]) + "\r\n"
    report = employee_import.import_employees(ADMIN, again.encode())
    assert (report.created, report.updated) == (1, 1)
    assert _owners(device) == {"1001": org, "1002": org, "1003": org}


def test_a_failed_import_puts_the_owners_back(monkeypatch):
    device = _device()
    org = _org(device)
    with db_session:
        name = Organization[org].name
    monkeypatch.setattr(employee_import, "IMPORT_BATCH", 1)
    real = employee_import._write_batch
    calls = {"n": 0}

    def failing_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Conflict("a concurrent change")
        return real(*args, **kwargs)

    monkeypatch.setattr(employee_import, "_write_batch", failing_second)
    data = "\r\n".join(["分机号,姓名,密码,联络电话,所属组织,角色", f"1101,A,,,{name},",
                        f"1102,B,,,{name},"]) + "\r\n"
    report = employee_import.import_employees(ADMIN, data.encode())
    assert (report.created, report.updated) == (0, 0) and report.errors
    assert _owners(device) == {}


def test_the_capture_reads_the_table_only_once_it_changed():
    first = extension_owners.table()
    assert first is not None and extension_owners.table(first.revision) is None
    _employee(_org(_device()), "1201")
    second = extension_owners.table(first.revision)
    assert second is not None and second.revision > first.revision


def test_the_migration_fills_the_table_from_the_employees_there_are():
    d1 = _device()
    top = _org(d1)
    _employee(_org(None, top), "1301")
    backfill = v15_extension_owner.V15_COMMON[-1]
    with db_session:
        expected = _table()
        run("DELETE FROM extension_owner")
        run(backfill)
        assert _table() == expected
