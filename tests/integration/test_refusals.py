"""Refusals through the real server: the field the client sent, the rule and its numbers."""

from __future__ import annotations

import uuid

import httpx

from tests.support.people import create_org, random_prefix
from tests.support.server import ADMIN_PASSWORD


def _org(admin) -> str:
    return create_org(admin, f"refusals-{uuid.uuid4().hex[:8]}", random_prefix())


def test_an_employees_refused_password_is_reported_on_password(appliance):
    admin = appliance.admin
    org = _org(admin)
    refused = admin.data(
        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename ... on UserError { code field rule params message } } }",
        {"i": {"extension": "7001", "name": "Li Lei", "organizationId": org, "password": "short"}},
    )["createEmployee"]
    assert refused == {"__typename": "UserError", "code": "INVALID_INPUT", "field": "password", "rule": "too_short",
                       "params": {"min": 8}, "message": "the password needs at least 8 characters"}
    simple = admin.data(
        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { ... on UserError { field rule params } } }",
        {"i": {"extension": "7001", "name": "Li Lei", "organizationId": org, "password": "alllowercase"}},
    )["createEmployee"]
    assert simple == {"field": "password", "rule": "too_few_kinds", "params": {"min": 2}}
    made = admin.data(
        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename ... on Employee { id } } }",
        {"i": {"extension": "7001", "name": "Li Lei", "organizationId": org, "password": "Good-Pass-71"}},
    )["createEmployee"]
    assert made["__typename"] == "Employee", made
    updated = admin.data(
        "mutation($id: ID!, $i: EmployeeInput!) { updateEmployee(id: $id, input: $i) { ... on UserError { field rule params } } }",
        {"id": made["id"], "i": {"extension": "7001", "name": "Li Lei", "organizationId": org, "password": "short"}},
    )["updateEmployee"]
    assert updated == {"field": "password", "rule": "too_short", "params": {"min": 8}}


def test_the_own_password_is_reported_on_new_password_and_the_old_on_old_password(appliance):
    admin = appliance.admin
    weak = admin.data(
        'mutation { changePassword(oldPassword: "whatever", newPassword: "short") { ... on UserError { field rule } } }'
    )["changePassword"]
    # The old password is checked first (a guess must not learn the new-password rules).
    assert weak == {"field": "oldPassword", "rule": "wrong_password"}
    weak = admin.data(
        "mutation($o: String!) { changePassword(oldPassword: $o, newPassword: \"short\") { ... on UserError { field rule params } } }",
        {"o": ADMIN_PASSWORD},
    )["changePassword"]
    assert weak == {"field": "newPassword", "rule": "too_short", "params": {"min": 8}}


def test_settings_and_device_refusals_carry_the_limits(appliance):
    admin = appliance.admin
    r = admin.data("mutation { updateSettings(input: {mixingGain: 11}) { ... on UserError { field rule params } } }")
    assert r["updateSettings"] == {"field": "mixingGain", "rule": "out_of_range", "params": {"min": 1, "max": 10, "value": 11}}
    r = admin.data(
        "mutation($i: DeviceInput!) { createDevice(input: $i) { ... on UserError { field rule params } } }",
        {"i": {"alias": f"d{uuid.uuid4().hex[:6]}", "address": "192.0.2.1", "secret": "secret1", "mode": "PUSH",
               "pullbackHours": 300}},
    )["createDevice"]
    assert r == {"field": "pullbackHours", "rule": "out_of_range", "params": {"min": 1, "max": 240, "value": 300}}


def test_a_query_refusal_carries_rule_params_and_field_in_its_extensions(appliance):
    body = appliance.admin.gql("{ recordings(filter: {minDuration: 5, maxDuration: 1}, pageSize: 10) { total } }")
    ext = body["errors"][0]["extensions"]
    assert ext == {"code": "INVALID_INPUT", "rule": "out_of_order", "params": {}, "field": "minDuration"}
    body = appliance.admin.gql("{ recordings(pageSize: 5000) { total } }")
    ext = body["errors"][0]["extensions"]
    assert (ext["field"], ext["rule"], ext["params"]["max"]) == ("pageSize", "out_of_range", 200)


def test_http_refusals_and_import_rows_carry_the_rule(appliance):
    http = httpx.Client(base_url=appliance.server.url, headers={"Authorization": f"Bearer {appliance.token}"}, timeout=60)
    r = http.get("/api/v1/recordings/archive.zip", params={"callerOrg": "x" * 129})
    assert r.status_code == 400
    assert {k: r.json()[k] for k in ("field", "rule", "params")} == {"field": "callerOrg", "rule": "too_long", "params": {"max": 128}}
    csv = "分机号,姓名,密码,联络电话,所属组织,角色\r\n7002,Han Meimei,short,,no-such-department,\r\n".encode()
    r = http.post("/api/v1/employees/import", files={"file": ("e.csv", csv, "text/csv")})
    assert r.status_code == 422
    assert r.json()["rows"] == [{"line": 2, "reason": "no organisation named 'no-such-department'", "rule": "unknown_organisation",
                                 "params": {"value": "no-such-department"}, "column": "所属组织"}]
