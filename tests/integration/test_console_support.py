"""What the console stands on (issue 14), through the real server: a HEAD before a
download that answers as the GET would and builds and logs nothing, SNs found by their
beginning, the settings' ranges and overrides, the password rules, the appliance's zone."""

from __future__ import annotations

import uuid

from tests.support.audio import tone_pcm, wav_bytes
from tests.support.people import create_employee, create_org, create_role, random_prefix

AUDIT = "query($f: AuditFilter) { auditLog(filter: $f, pageSize: 200) { total items { type details } } }"


def _upload(appliance, caller: str, started: str) -> dict:
    r = appliance.upload(wav_bytes(tone_pcm(1.0), 8000), caller=caller, callee="269", started_at=started)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_head_before_a_download_answers_as_the_get_and_leaves_no_trace(appliance, unique):
    made = _upload(appliance, f"{unique}1", "2024-05-01T01:30:00+00:00")
    http = appliance.admin.http
    downloads_before = appliance.admin.data(AUDIT, {"f": {"type": "DOWNLOAD"}})["auditLog"]["total"]
    exports_before = appliance.admin.data(AUDIT, {"f": {"type": "EXPORT"}})["auditLog"]["total"]
    found = http.head("/api/v1/recordings/archive.zip", params={"caller": f"{unique}1"})
    assert (found.status_code, found.headers["content-type"]) == (200, "application/zip")
    assert found.content == b""
    nothing = http.head("/api/v1/recordings/archive.zip", params={"caller": f"{unique}9"})
    assert nothing.status_code == http.get("/api/v1/recordings/archive.zip", params={"caller": f"{unique}9"}).status_code == 404
    too_many = {"ids": ",".join(str(i) for i in range(1, 5003))}
    assert http.head("/api/v1/recordings/archive.zip", params=too_many).status_code == 400
    assert http.head("/api/v1/recordings/export.xlsx", params={"ids": made["id"]}).status_code == 200
    assert http.head("/api/v1/audit/export.xlsx").status_code == 200
    # Nothing was built or logged by the HEADs (the one refused GET logs nothing either).
    assert appliance.admin.data(AUDIT, {"f": {"type": "DOWNLOAD"}})["auditLog"]["total"] == downloads_before
    assert appliance.admin.data(AUDIT, {"f": {"type": "EXPORT"}})["auditLog"]["total"] == exports_before


def test_a_head_is_refused_as_the_get_is(appliance):
    admin = appliance.admin
    prefix = random_prefix()
    org = create_org(admin, f"heads-{uuid.uuid4().hex[:6]}", prefix, device=appliance.device["id"])
    role = create_role(admin, f"players-{uuid.uuid4().hex[:6]}", [org], ["PLAY"])
    player = create_employee(admin, appliance.server.url, "5101", org, prefix, [role])
    for path in ("/api/v1/audit/export.xlsx",):
        assert player.http.head(path).status_code == player.http.get(path).status_code == 403
    anonymous = appliance.device_http
    for path in ("/api/v1/recordings/archive.zip?ids=1", "/api/v1/recordings/export.xlsx", "/api/v1/audit/export.xlsx"):
        assert anonymous.head(path).status_code == anonymous.get(path).status_code == 401


def test_an_sn_is_found_by_its_beginning(appliance, unique):
    # 01:30 UTC is 09:30 in Shanghai (SQLite's server) and 01:30 in UTC (PostgreSQL's).
    first = _upload(appliance, f"{unique}1", "2024-05-01T01:30:00+00:00")
    second = _upload(appliance, f"{unique}2", "2024-05-01T01:31:00+00:00")
    query = "query($f: RecordingFilter) { recordings(filter: $f) { total items { sn } } }"

    def sns(prefix: str) -> list[str]:
        found = appliance.admin.data(query, {"f": {"sn": prefix, "caller": f"{unique}*"}})["recordings"]
        return sorted(r["sn"] for r in found["items"])

    local = appliance.server.zone
    minute = first["sn"][:13]  # YYYYMMDD_HHMM
    assert first["sn"].startswith("20240501_" + ("0930" if str(local) == "Asia/Shanghai" else "0130"))
    assert sns(minute) == [first["sn"]]
    assert sns(minute + "*") == [first["sn"]]
    assert sns(first["sn"][:8]) == sorted([first["sn"], second["sn"]])
    assert sns(first["sn"]) == [first["sn"]]
    assert sns("20240502") == []
    assert sns("2024") == sorted([first["sn"], second["sn"]])  # no day named: no time window


def test_settings_say_their_ranges_and_what_the_configuration_fixes(appliance):
    settings = appliance.admin.data("{ settings { sipPort ranges { field min max } overrides { field source value } } }")["settings"]
    ranges = {r["field"]: (r["min"], r["max"]) for r in settings["ranges"]}
    assert ranges["sipPort"] == (1024, 65535) and ranges["mixingGain"] == (1, 10) and ranges["diskUsageLimit"] == (1, 99)
    # The test server is started with RECORDER_SIP_PORT: the page must say the setting is fixed.
    assert settings["overrides"] == [
        {"field": "sipPort", "source": "RECORDER_SIP_PORT", "value": str(appliance.server.sip_port)}
    ]
    refused = appliance.admin.data(
        "mutation { updateSettings(input: {diskUsageLimit: 150}) { __typename ... on UserError { field rule params } } }"
    )["updateSettings"]
    assert refused == {"__typename": "UserError", "field": "diskUsageLimit", "rule": "out_of_range", "params": {"min": 1, "max": 99, "value": 150}}


def test_the_password_rules_for_anyone_and_the_appliances_zone_for_the_signed_in(appliance):
    rules = appliance.api.data("{ passwordRules { minLength maxLength minKinds } }")["passwordRules"]
    assert rules == {"minLength": 8, "maxLength": 128, "minKinds": 2}
    assert appliance.api.data("{ systemInfo { timeZone } }")["systemInfo"]["timeZone"] == str(appliance.server.zone)
    # Public: the forced change of the default password shows them before anything else.
    anonymous = appliance.device_http.post("/graphql", json={"query": "{ passwordRules { minLength } }"}).json()
    assert anonymous == {"data": {"passwordRules": {"minLength": 8}}}
    anonymous_zone = appliance.device_http.post("/graphql", json={"query": "{ systemInfo { timeZone } }"}).json()
    assert anonymous_zone["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_taken_name_prefix_or_extension_is_refused_on_its_own_field(appliance):
    admin = appliance.admin
    prefix = random_prefix()
    name = f"dup-{uuid.uuid4().hex[:6]}"
    org = create_org(admin, name, prefix)
    make_org = "mutation($i: OrganizationInput!) { createOrganization(input: $i) { __typename ... on UserError { field rule params } } }"
    same_name = admin.data(make_org, {"i": {"name": name, "prefix": random_prefix()}})["createOrganization"]
    assert (same_name["field"], same_name["rule"], same_name["params"]["value"]) == ("name", "duplicate", name)
    same_prefix = admin.data(make_org, {"i": {"name": name + "-2", "prefix": prefix}})["createOrganization"]
    assert (same_prefix["field"], same_prefix["rule"], same_prefix["params"]) == ("prefix", "duplicate", {"value": prefix, "by": name})
    create_employee(admin, appliance.server.url, "6101", org, prefix, [])
    again = admin.data(
        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename ... on UserError { field rule params } } }",
        {"i": {"extension": "6101", "name": "Twin", "password": "Twin-Pass-2024", "phone": "", "organizationId": org, "roleIds": []}},
    )["createEmployee"]
    assert (again["field"], again["rule"], again["params"]) == ("extension", "duplicate", {"value": prefix + "6101"})


# --- what an attacker sent on 2026-12-05, each answered, never a 500 ----------------------


def test_control_characters_from_an_anonymous_sign_in_do_not_break_the_audit_export(appliance):
    anonymous = appliance.device_http
    login = f"x\u0001{uuid.uuid4().hex[:6]}"
    r = anonymous.post("/graphql", json={"query": "mutation($l: String!) { login(login: $l, password: \"nope-Wrong-1\") { __typename } }", "variables": {"l": login}})
    assert r.json()["data"]["login"]["__typename"] == "LoginError"
    exported = appliance.admin.http.get("/api/v1/audit/export.xlsx", params={"lang": "en"})
    assert exported.status_code == 200, exported.text
    import io

    import openpyxl

    cells = [c for row in openpyxl.load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True) for c in row]
    assert login.replace("\u0001", "\ufffd") in cells


def test_odd_sn_prefixes_ids_and_characters_are_refused_or_found_nothing(appliance):
    query = "query($f: RecordingFilter) { recordings(filter: $f) { total } }"
    for edge in ("99991231", "99991230", "00010101"):  # a window past the ends of time
        assert appliance.admin.data(query, {"f": {"sn": edge}})["recordings"]["total"] == 0
        assert appliance.admin.http.head("/api/v1/recordings/archive.zip", params={"sn": edge}).status_code == 404
    http = appliance.admin.http
    for ids in ("\u00b2", "\u2460", "\uff11", "\u0661"):  # digits int() refuses, or other scripts'
        r = http.get("/api/v1/recordings/archive.zip", params={"ids": ids})
        assert (r.status_code, r.json()["field"]) == (400, "ids"), ids
    for bad in ("\u0000", "2024\u0000"):
        for name in ("sn", "caller", "tag", "device"):
            r = http.get("/api/v1/recordings/export.xlsx", params={name: bad})
            assert (r.status_code, r.json()["rule"]) == (400, "invalid_format"), (name, bad)
    import json

    lone_surrogate = json.dumps({"query": query, "variables": {"f": {"sn": "\ud800x"}}})  # sent escaped, as JSON allows
    refused = http.post("/graphql", content=lone_surrogate, headers={"content-type": "application/json"}).json()
    assert refused["errors"][0]["extensions"]["rule"] == "invalid_format", refused
