"""Refusals say their rule (code, params) and name the field in the domain's own words; the
adapters rename the field to the name the client sent (GraphQL input fields and arguments,
HTTP query parameters)."""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

import appliance.errors as errors_module
from appliance.api.graphql.errors import UserError, api_field
from appliance.api.graphql.schema import schema
from appliance.api.http.selection import selection_from_query
from appliance.domain import employee_csv
from appliance.domain.accounts import check_new_password
from appliance.domain.devices import DeviceMode, DeviceSpec
from appliance.domain.organization import (
    check_extension,
    check_org_name,
    check_person_name,
    check_phone,
    check_prefix,
)
from appliance.domain.recordings import RecordingFilter, RecordingMeta, check_score, check_tag
from appliance.domain.settings import RANGES, Settings
from appliance.errors import Conflict, InvalidInput, NotFound, Refusal

ROOT = Path(__file__).parents[2]
GOOD_DEVICE = DeviceSpec(alias="pbx", mode=DeviceMode.PUSH, address="192.0.2.1", secret="secret1")


def refusal(fn: Callable[[], object]) -> Refusal:
    with pytest.raises(Refusal) as caught:
        fn()
    return caught.value


def _device(**bad: object) -> Callable[[], object]:
    from dataclasses import replace

    return lambda: replace(GOOD_DEVICE, **bad).validate()


def test_a_range_refusal_carries_its_limits_and_the_value():
    exc = refusal(lambda: Settings().changed(mixing_gain=11))
    assert (exc.field, exc.code, exc.params) == ("mixing_gain", "out_of_range", {"min": 1, "max": 10, "value": 11})
    exc = refusal(lambda: Settings().changed(rtp_port_min=30000, rtp_port_max=29000))
    assert (exc.field, exc.params["min"]) == ("rtp_port_max", 30001)
    exc = refusal(lambda: Settings().changed(sip_port=25000))
    assert (exc.field, exc.code, exc.params) == ("sip_port", "overlaps_range", {"min": 20000, "max": 29999, "value": 25000, "low": 1024, "high": 65535})
    exc = refusal(_device(pullback_hours=300))
    assert (exc.field, exc.code, exc.params) == ("pullback_hours", "out_of_range", {"min": 1, "max": 240, "value": 300})


def test_a_password_refusal_says_which_rule_on_the_callers_field():
    exc = refusal(lambda: check_new_password("short", "bob"))
    assert (exc.field, exc.code, exc.params) == ("password", "too_short", {"min": 8})
    assert refusal(lambda: check_new_password("a" * 129, "bob")).params == {"max": 128}
    assert refusal(lambda: check_new_password("alllowercase", "bob")).code == "too_few_kinds"
    assert refusal(lambda: check_new_password("Bob-1234", "bob-1234")).code == "same_as_login"
    assert refusal(lambda: check_new_password("JSJZXWLGLY358", "bob")).code == "default_password"
    assert refusal(lambda: check_new_password("Good-Pass-1", "bob", "Good-Pass-1")).code == "same_as_old"
    assert refusal(lambda: check_new_password("short", "bob", field="new_password")).field == "new_password"


def test_lengths_and_formats():
    assert (refusal(lambda: check_org_name(" ")).code, refusal(lambda: check_org_name("x" * 65)).params) == ("required", {"max": 64})
    assert refusal(lambda: check_prefix("ABCDE")).params == {"max": 4}
    assert refusal(lambda: check_prefix("ab")).code == "invalid_format"
    assert refusal(lambda: check_extension("1" * 33)).code == "too_long"
    assert refusal(lambda: check_phone("x")).code == "invalid_format"
    assert refusal(lambda: check_score(101)).params == {"min": 0, "max": 100, "value": 101}
    assert refusal(lambda: check_tag("", None, None)).code == "required"
    assert refusal(lambda: RecordingMeta.parse({"call_id": "c", "started_at": "2024-01-01T00:00:00Z", "kind": "fax"})).params == {
        "allowed": ["call", "voicemail"]}


def test_refusals_outside_input_have_their_default_code():
    assert NotFound("x").code == "not_found" and Conflict("x").code == "duplicate"
    assert InvalidInput("x").params == {}


# --- every code is documented in one place ----------------------------------------------


def _codes_used() -> set[str]:
    used: set[str] = set()
    for path in (ROOT / "appliance").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg in ("code", "default_code") and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    used.add(kw.value.value)
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name == "RowError" and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
                used.add(node.args[2].value)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "default_code" for t in node.targets):
                used.add(node.value.value)  # type: ignore[attr-defined]
    return used


def test_every_code_is_in_the_vocabulary():
    documented = set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z]+\b", errors_module.__doc__ or ""))
    # Upper-case codes are GraphQL's categories (UserError.code), not rules.
    used = {c for c in _codes_used() if c.islower()} - {"invalid"}
    assert used, "the scan found no code"
    assert {"out_of_range", "required", "unknown_organisation", "extension_clash"} <= used
    assert used <= documented, sorted(used - documented)


# --- field names: the domain's own words, renamed to the client's by the adapters --------


def _input_fields(type_name: str) -> set[str]:
    return set(schema._schema.type_map[type_name].fields)  # type: ignore[attr-defined]


def _args(root: str, field: str) -> set[str]:
    t = schema._schema.mutation_type if root == "mutation" else schema._schema.query_type  # type: ignore[attr-defined]
    return set(t.fields[field].args)


def _fields_raised_in(module: str, *functions: str) -> set[str]:
    """The `field=` constants of the refusals these service functions raise themselves."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in functions:
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    found |= {kw.value.value for kw in call.keywords
                              if kw.arg == "field" and isinstance(kw.value, ast.Constant)}
    assert found, (module, functions)
    return found


def _fields_of(*makers: Callable[[], object]) -> set[str]:
    return {refusal(m).field or "" for m in makers}


SETTINGS_REFUSALS = [*((lambda n=n: Settings().changed(**{n: -1})) for n in RANGES), lambda: Settings().changed(sip_port=25000)]
DEVICE_REFUSALS = [_device(alias="a b"), _device(address="not an address!"), _device(cache_address="x:99999"),
                   _device(secret="x"), _device(pullback_hours=0), _device(pull_interval=11),
                   _device(mode=DeviceMode.PULL), _device(pull_path="p" * 256), _device(pull_username="u" * 65)]
FILTER_REFUSALS = [*((lambda n=n: RecordingFilter(**{n: "x" * 129}).validate())
                     for n in ("device", "tag", "caller", "callee", "caller_org", "callee_org", "sn")),
                   lambda: RecordingFilter(min_duration=-1).validate(),
                   lambda: RecordingFilter(min_duration=5, max_duration=1).validate(),
                   lambda: RecordingFilter(started_from=datetime(2024, 1, 2), started_to=datetime(2024, 1, 1)).validate(),
                   lambda: RecordingFilter(score=101).validate()]
EMPLOYEE_REFUSALS = [lambda: check_extension(""), lambda: check_person_name(""), lambda: check_phone("?"),
                     lambda: check_new_password("short", "bob")]


@pytest.mark.parametrize(
    ("where", "names", "domain_fields"),
    [
        ("SettingsInput", lambda: _input_fields("SettingsInput"), lambda: _fields_of(*SETTINGS_REFUSALS)),
        ("DeviceInput", lambda: _input_fields("DeviceInput"), lambda: _fields_of(*DEVICE_REFUSALS)),
        ("RecordingFilter", lambda: _input_fields("RecordingFilter"), lambda: _fields_of(*FILTER_REFUSALS)),
        ("OrganizationInput", lambda: _input_fields("OrganizationInput"),
         lambda: _fields_of(lambda: check_org_name(""), lambda: check_prefix("x"))
         | _fields_raised_in("appliance/services/organizations.py", "_check_org")),
        ("RoleInput", lambda: _input_fields("RoleInput"),
         lambda: _fields_raised_in("appliance/services/roles.py", "_check_role")),
        ("EmployeeInput", lambda: _input_fields("EmployeeInput"),
         lambda: _fields_of(*EMPLOYEE_REFUSALS) | _fields_raised_in("appliance/services/employees.py", "checked_employee")),
        ("changePassword", lambda: _args("mutation", "changePassword"),
         lambda: _fields_raised_in("appliance/services/accounts.py", "change_password")),
        ("createApiToken", lambda: _args("mutation", "createApiToken"), lambda: {"name"}),
        ("tagRecording", lambda: _args("mutation", "tagRecording"),
         lambda: _fields_of(lambda: check_tag("", None, None), lambda: check_tag("t", -1, 10))),
        ("scoreRecording", lambda: _args("mutation", "scoreRecording"), lambda: _fields_of(lambda: check_score(-1))),
        ("recordings", lambda: _args("query", "recordings"),
         lambda: {"page", "page_size"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_graphql_names_every_refused_field_as_the_client_sent_it(where, names, domain_fields):
    fields = domain_fields()
    assert all(f == f.lower() for f in fields), f"not the domain's snake_case: {fields}"
    sent = names()
    assert {api_field(f) for f in fields} <= sent, (where, {f: api_field(f) for f in fields}, sent)


def test_an_employee_password_and_an_own_password_are_named_apart():
    employee = UserError.of(refusal(lambda: check_new_password("short", "bob")))
    own = UserError.of(refusal(lambda: check_new_password("short", "bob", field="new_password")))
    assert (employee.field, own.field) == ("password", "newPassword")
    assert (employee.rule, employee.params) == ("too_short", {"min": 8})
    assert "password" in _input_fields("EmployeeInput") and "newPassword" in _args("mutation", "changePassword")


def test_http_names_every_refused_filter_field_as_its_query_parameter():
    from starlette.datastructures import QueryParams

    for make in FILTER_REFUSALS:
        attribute = refusal(make).field
        assert attribute in {f.name for f in dataclasses.fields(RecordingFilter)}, attribute
    exc = refusal(lambda: selection_from_query(QueryParams({"minDuration": "5", "maxDuration": "1"})))
    assert (exc.field, exc.code) == ("minDuration", "out_of_order")
    exc = refusal(lambda: selection_from_query(QueryParams({"callerOrg": "x" * 129})))
    assert (exc.field, exc.params) == ("callerOrg", {"max": 128})


def test_import_rows_name_their_column():
    _, errors = employee_csv.parse("分机号,姓名,密码,联络电话,所属组织,角色\r\n1001,,,,,\r\n")
    assert [(e.line, e.code, e.column) for e in errors] == [(2, "required", "姓名")]
    _, errors = employee_csv.parse("分机号,姓名\r\n")
    assert errors[0].code == "missing_columns" and "所属组织" in errors[0].params["columns"]
    assert set(employee_csv.COLUMN_OF.values()) == set(employee_csv.COLUMNS)
