"""Who sees which recordings: employee, manager, administrator and integrator, on every path."""

from __future__ import annotations

import io
import uuid
import zipfile

import httpx
import openpyxl
import pytest

from tests.support.audio import tone_pcm, wav_bytes
from tests.support.people import PASSWORD, create_org, random_prefix
from tests.support.server import Client, create_device

AUDIO = wav_bytes(tone_pcm(1.0), 8000)


def _import(server_url, admin, content: bytes):
    return admin.http.post("/api/v1/employees/import", files={"file": ("staff.csv", content, "text/csv")})


@pytest.fixture(scope="module")
def org(appliance):
    """HQ (device A) > Sales > Sales East; Branch (device B) > Support. Extension 201 on both devices."""
    admin = appliance.admin
    tag = uuid.uuid4().hex[:6]
    dev_a = create_device(admin)
    dev_b = create_device(admin)
    names = {k: f"{k}-{tag}" for k in ("HQ", "Sales", "SalesEast", "Branch", "Support")}
    prefixes = {k: random_prefix() for k in names}
    hq = create_org(admin, names["HQ"], prefixes["HQ"], dev_a["id"])
    sales = create_org(admin, names["Sales"], prefixes["Sales"], parent=hq)
    east = create_org(admin, names["SalesEast"], prefixes["SalesEast"], parent=sales)
    branch = create_org(admin, names["Branch"], prefixes["Branch"], dev_b["id"])
    support = create_org(admin, names["Support"], prefixes["Support"], parent=branch)
    role = admin.data(
        "mutation($i: RoleInput!) { createRole(input: $i) { ... on Role { id name } } }",
        {"i": {"name": f"Sales managers {tag}", "departmentIds": [sales], "actions": ["PLAY", "DOWNLOAD", "EXPORT"]}},
    )["createRole"]
    csv_text = (
        "分机号,姓名,密码,联络电话,所属组织,角色\r\n"
        f"201,张三,{PASSWORD},13800000001,{names['Sales']},\r\n"
        f"202,李四,{PASSWORD},,{names['Sales']},\r\n"
        f"301,王五,{PASSWORD},,{names['SalesEast']},\r\n"
        f"900,赵经理,{PASSWORD},,{names['HQ']},{role['name']}\r\n"
    )
    r = _import(appliance.server.url, admin, b"\xef\xbb\xbf" + csv_text.encode("utf-8"))
    assert r.status_code == 201, r.text
    assert r.json() == {"created": 4, "updated": 0}
    gbk_text = "分机号,姓名,密码,联络电话,所属组织,角色\r\n" f"201,陈六,{PASSWORD},,{names['Support']},\r\n"
    r = _import(appliance.server.url, admin, gbk_text.encode("gbk"))
    assert r.status_code == 201, r.text
    assert r.json() == {"created": 1, "updated": 0}
    imported = admin.data(
        "query($o: ID!) { employees(organizationId: $o) { extension name } }", {"o": support}
    )["employees"]
    assert imported == [{"extension": "201", "name": "陈六"}]  # GBK decoded, not mojibake
    # Calls: (device, caller, callee). 555/777 are outside numbers.
    calls = [
        (dev_a, "201", "555"),  # 0 Sales 201 (device A)
        (dev_a, "777", "201"),  # 1 Sales 201 called
        (dev_a, "202", "555"),  # 2 Sales 202
        (dev_a, "301", "202"),  # 3 Sales East 301 -> Sales 202
        (dev_a, "900", "555"),  # 4 HQ manager
        (dev_b, "201", "555"),  # 5 Support 201 on device B (same extension!)
        (dev_a, "888", "999"),  # 6 nobody's
    ]
    ids = []
    for device, caller, callee in calls:
        up = appliance.upload(AUDIO, device=device, caller=caller, callee=callee)
        assert up.status_code == 201, up.text
        ids.append(up.json()["id"])
    return {
        "appliance": appliance, "names": names, "prefixes": prefixes, "ids": ids,
        "ids_by_name": {"hq": hq, "sales": sales, "east": east, "branch": branch, "support": support},
        "role": role, "devices": (dev_a, dev_b),
    }


def _login(org, key, extension) -> Client:
    c = Client(org["appliance"].server.url)
    r = c.login(org["prefixes"][key] + extension, PASSWORD)
    assert r["__typename"] == "LoginSuccess", r
    return c


def _visible(client: Client, org) -> set[str]:
    data = client.data(
        "query($f: RecordingFilter) { recordings(filter: $f, pageSize: 200) { total items { id callerOrg calleeOrg } } }",
        {"f": {"kind": None}},
    )["recordings"]
    mine = {i["id"] for i in data["items"]} & set(org["ids"])
    return mine


def _expect(org, *positions):
    return {org["ids"][p] for p in positions}


def test_employee_sees_only_own_calls_on_own_device(org):
    emp = _login(org, "Sales", "201")
    assert _visible(emp, org) == _expect(org, 0, 1)
    # The other 201, on device B, sees only theirs.
    other = _login(org, "Support", "201")
    assert _visible(other, org) == _expect(org, 5)
    me = emp.data("{ me { login profile { extension organization actions } } }")["me"]
    assert me["profile"] == {"extension": "201", "organization": org["names"]["Sales"], "actions": ["DOWNLOAD", "PLAY"]}


def test_manager_sees_departments_and_below(org):
    mgr = _login(org, "HQ", "900")
    # Sales and Sales East employees' calls (either party), plus the manager's own call.
    assert _visible(mgr, org) == _expect(org, 0, 1, 2, 3, 4)


def test_administrator_sees_everything(org):
    assert _visible(org["appliance"].api, org) == set(org["ids"])


def test_token_acts_with_its_users_scope(org):
    out = org["appliance"].server.cli("admin", "token", "create", "--name", "crm", "--user", org["prefixes"]["HQ"] + "900")
    token = out.stdout.strip().splitlines()[-1]
    assert _visible(Client(org["appliance"].server.url, token), org) == _expect(org, 0, 1, 2, 3, 4)


def test_totals_are_scoped(org):
    emp = _login(org, "Sales", "201")
    total = emp.data("{ recordings { total } }")["recordings"]["total"]
    assert total == 2


def test_party_organisations_and_org_filters(org):
    api = org["appliance"].api
    rec = api.data("query($id: ID!) { recording(id: $id) { callerOrg calleeOrg } }", {"id": org["ids"][3]})["recording"]
    assert rec == {"callerOrg": org["names"]["SalesEast"], "calleeOrg": org["names"]["Sales"]}
    device_b = api.data("query($id: ID!) { recording(id: $id) { callerOrg } }", {"id": org["ids"][5]})["recording"]
    assert device_b["callerOrg"] == org["names"]["Support"]
    got = api.data(
        "query($o: String!) { recordings(filter: {callerOrg: $o}, pageSize: 100) { items { id } } }", {"o": org["names"]["Sales"]}
    )["recordings"]["items"]
    # Sales includes Sales East.
    assert {i["id"] for i in got} == _expect(org, 0, 2, 3)


def test_guessed_ids_answer_as_missing_on_every_path(org):
    emp = _login(org, "Sales", "201")
    foreign = org["ids"][2]  # a colleague's call
    own = org["ids"][0]
    assert emp.data("query($id: ID!) { recording(id: $id) { id } }", {"id": foreign})["recording"] is None
    assert emp.data("query($id: ID!) { recording(id: $id) { id } }", {"id": own})["recording"]["id"] == own
    assert emp.http.get(f"/api/v1/recordings/{foreign}/audio").status_code == 404
    assert emp.http.get(f"/api/v1/recordings/{own}/audio").status_code == 200
    r = emp.http.get("/api/v1/recordings/archive.zip", params={"ids": f"{own},{foreign}"})
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert len(zf.namelist()) == 1
    assert emp.http.get("/api/v1/recordings/archive.zip", params={"ids": foreign}).status_code == 404
    score = emp.data("mutation($id: ID!) { scoreRecording(id: $id, score: 3) { __typename ... on UserError { code } } }", {"id": foreign})
    assert score["scoreRecording"] == {"__typename": "UserError", "code": "NOT_FOUND"}


def test_actions_follow_roles(org):
    emp = _login(org, "Sales", "201")
    own = org["ids"][0]
    # No role: may play and download own calls, not export, score or delete.
    assert emp.http.get("/api/v1/recordings/export.xlsx", params={"ids": own}).status_code == 403
    score = emp.data("mutation($id: ID!) { scoreRecording(id: $id, score: 3) { __typename ... on UserError { code } } }", {"id": own})
    assert score["scoreRecording"]["code"] == "FORBIDDEN"
    body = emp.gql("mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { deleted } }", {"ids": [own]})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    mgr = _login(org, "HQ", "900")
    r = mgr.http.get("/api/v1/recordings/export.xlsx", params={"kind": "call", "callerOrg": org["names"]["Sales"]})
    assert r.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))[1:]
    assert {row[10] for row in rows} and len(rows) == 3
    # Administration stays with administrators.
    assert mgr.gql("{ settings { sipPort } }")["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert mgr.gql("{ auditLog { total } }")["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_tag_suggestions_are_scoped(org):
    api = org["appliance"].api
    secret_tag = f"private-{uuid.uuid4().hex[:6]}"
    api.data("mutation($id: ID!, $n: String!) { tagRecording(id: $id, name: $n) { __typename } }", {"id": org["ids"][5], "n": secret_tag})
    emp = _login(org, "Sales", "201")
    assert emp.data("query($p: String!) { tagSuggestions(prefix: $p) }", {"p": secret_tag})["tagSuggestions"] == []
    assert api.data("query($p: String!) { tagSuggestions(prefix: $p) }", {"p": secret_tag})["tagSuggestions"] == [secret_tag]


def test_bad_csv_imports_nothing_and_reports_every_row(org):
    admin = org["appliance"].admin
    names = org["names"]
    before = len(admin.data("{ employees { id } }")["employees"])
    bad = (
        "分机号,姓名,密码,联络电话,所属组织,角色\n"
        f"401,OK Person,{PASSWORD},,{names['Sales']},\n"
        f",No Extension,{PASSWORD},,{names['Sales']},\n"
        f"402,Nowhere,{PASSWORD},,No Such Org,\n"
        f"403,Weak,abc,,{names['Sales']},\n"
        f"404,Bad Role,{PASSWORD},,{names['Sales']},Ghost role\n"
        f"401,Twice,{PASSWORD},,{names['Sales']},\n"
    )
    r = _import(org["appliance"].server.url, admin, bad.encode("utf-8"))
    assert r.status_code == 422
    rows = r.json()["rows"]
    assert [row["line"] for row in rows] == [3, 4, 5, 6, 7]
    assert "required" in rows[0]["reason"]
    assert "No Such Org" in rows[1]["reason"]
    assert "8 characters" in rows[2]["reason"]
    assert "Ghost role" in rows[3]["reason"]
    assert "line 2" in rows[4]["reason"]
    assert len(admin.data("{ employees { id } }")["employees"]) == before
    missing_column = _import(org["appliance"].server.url, admin, "分机号,姓名\n1,x\n".encode())
    assert missing_column.status_code == 422 and "missing columns" in missing_column.json()["rows"][0]["reason"]
    binary = _import(org["appliance"].server.url, admin, b"\xff\xfe\x00\x81\x00garbage\x80\x81")
    assert binary.status_code == 422


def test_template_download(org):
    r = org["appliance"].admin.http.get("/api/v1/employees/employee-tpl.csv")
    assert r.status_code == 200
    assert 'filename="employee-tpl.csv"' in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    assert r.content.decode("utf-8-sig").strip() == "分机号,姓名,密码,联络电话,所属组织,角色"


def test_tree_rules(org):
    admin = org["appliance"].admin
    ids = org["ids_by_name"]
    move = lambda target, parent, name, prefix: admin.data(  # noqa: E731
        "mutation($id: ID!, $i: OrganizationInput!) { updateOrganization(id: $id, input: $i) { __typename ... on UserError { message field } } }",
        {"id": target, "i": {"name": name, "prefix": prefix, "parentId": parent}},
    )["updateOrganization"]
    cycle = move(ids["sales"], ids["east"], org["names"]["Sales"], org["prefixes"]["Sales"])
    assert cycle["__typename"] == "UserError" and cycle["field"] == "parentId"
    dup = admin.data(
        "mutation($i: OrganizationInput!) { createOrganization(input: $i) { __typename ... on UserError { code message } } }",
        {"i": {"name": org["names"]["Sales"], "prefix": "ZZZZ"}},
    )["createOrganization"]
    assert dup["code"] == "CONFLICT"
    bad_prefix = admin.data(
        'mutation { createOrganization(input: {name: "x-lower", prefix: "ab1"}) { ... on UserError { field } } }'
    )["createOrganization"]
    assert bad_prefix["field"] == "prefix"
    busy = admin.data("mutation($id: ID!) { deleteOrganization(id: $id) { __typename ... on UserError { message } } }", {"id": ids["sales"]})
    assert busy["deleteOrganization"]["__typename"] == "UserError"
    assert "sub-organisations" in busy["deleteOrganization"]["message"]
    audit = admin.data('{ auditLog(filter: {type: "ORGANIZATION"}, pageSize: 50) { total } }')["auditLog"]["total"]
    assert audit >= 5


def test_unscoped_http_paths_refuse_strangers(org):
    anon = httpx.Client(base_url=org["appliance"].server.url)
    assert anon.get("/api/v1/employees/employee-tpl.csv").status_code == 401
    assert anon.post("/api/v1/employees/import", files={"file": ("a.csv", b"x")}).status_code == 401
    emp = _login(org, "Sales", "201")
    assert emp.http.post("/api/v1/employees/import", files={"file": ("a.csv", b"x")}).status_code == 403


def test_scoped_totals_agree_with_a_scan(org):
    """The tally path (no filter) and the scan path (a no-op filter) count the same rows."""
    q = "query($f: RecordingFilter) { recordings(filter: $f) { total } }"
    people = [org["appliance"].api, _login(org, "HQ", "900"), _login(org, "Sales", "201"), _login(org, "Support", "201")]
    for person in people:
        for kind in ("CALL", "VOICEMAIL", None):
            fast = person.data(q, {"f": {"kind": kind}})["recordings"]["total"]
            scan = person.data(q, {"f": {"kind": kind, "minDuration": 0}})["recordings"]["total"]
            assert fast == scan, (kind, fast, scan)


def test_moving_an_employee_moves_their_recordings(org):
    """Party organisations follow the employee: old calls now belong to the new department."""
    admin = org["appliance"].admin
    api = org["appliance"].api
    emp = next(e for e in admin.data("{ employees { id login extension organizationId } }")["employees"]
               if e["login"] == org["prefixes"]["Sales"] + "202")
    target = org["ids_by_name"]["east"]
    moved = admin.data(
        "mutation($id: ID!, $i: EmployeeInput!) { updateEmployee(id: $id, input: $i) { __typename ... on Employee { login } } }",
        {"id": emp["id"], "i": {"extension": "202", "name": "李四", "organizationId": target}},
    )["updateEmployee"]
    assert moved["login"] == org["prefixes"]["SalesEast"] + "202"
    rec = api.data("query($id: ID!) { recording(id: $id) { callerOrg } }", {"id": org["ids"][2]})["recording"]
    assert rec["callerOrg"] == org["names"]["SalesEast"]
    q = "query($f: RecordingFilter) { recordings(filter: $f) { total } }"
    mgr = _login(org, "HQ", "900")
    assert mgr.data(q, {"f": {"kind": "CALL"}})["recordings"]["total"] == mgr.data(q, {"f": {"kind": "CALL", "minDuration": 0}})["recordings"]["total"]
    # Moved back, the department is Sales again.
    admin.data(
        "mutation($id: ID!, $i: EmployeeInput!) { updateEmployee(id: $id, input: $i) { __typename } }",
        {"id": emp["id"], "i": {"extension": "202", "name": "李四", "organizationId": org["ids_by_name"]["sales"]}},
    )
    rec = api.data("query($id: ID!) { recording(id: $id) { callerOrg } }", {"id": org["ids"][2]})["recording"]
    assert rec["callerOrg"] == org["names"]["Sales"]


def test_new_prefix_renames_logins(org):
    admin = org["appliance"].admin
    support = org["ids_by_name"]["support"]
    new_prefix = "".join(reversed(org["prefixes"]["Support"]))
    if new_prefix == org["prefixes"]["Support"]:
        new_prefix = "QZQZ"
    r = admin.data(
        "mutation($id: ID!, $i: OrganizationInput!) { updateOrganization(id: $id, input: $i) { __typename ... on Organization { prefix } ... on UserError { message } } }",
        {"id": support, "i": {"name": org["names"]["Support"], "prefix": new_prefix, "parentId": org["ids_by_name"]["branch"]}},
    )["updateOrganization"]
    assert r == {"__typename": "Organization", "prefix": new_prefix}
    try:
        c = Client(org["appliance"].server.url)
        assert c.login(new_prefix + "201", PASSWORD)["__typename"] == "LoginSuccess"
        assert Client(org["appliance"].server.url).login(org["prefixes"]["Support"] + "201", PASSWORD)["__typename"] == "LoginError"
    finally:
        admin.data(
            "mutation($id: ID!, $i: OrganizationInput!) { updateOrganization(id: $id, input: $i) { __typename } }",
            {"id": support, "i": {"name": org["names"]["Support"], "prefix": org["prefixes"]["Support"], "parentId": org["ids_by_name"]["branch"]}},
        )


def test_manager_guessing_ids_outside_the_departments(org):
    mgr = _login(org, "HQ", "900")
    foreign = org["ids"][5]  # device B's support call
    assert mgr.data("query($id: ID!) { recording(id: $id) { id } }", {"id": foreign})["recording"] is None
    assert mgr.http.get(f"/api/v1/recordings/{foreign}/audio").status_code == 404
    assert mgr.http.get("/api/v1/recordings/archive.zip", params={"ids": foreign}).status_code == 404
    sheet = mgr.http.get("/api/v1/recordings/export.xlsx", params={"ids": f"{foreign},{org['ids'][0]}"})
    rows = list(openpyxl.load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))[1:]
    assert len(rows) == 1
    for mutation in (
        'mutation($id: ID!) { tagRecording(id: $id, name: "x") { __typename ... on UserError { code } } }',
        'mutation($id: ID!) { untagRecording(id: $id, name: "x") { __typename ... on UserError { code } } }',
        'mutation($id: ID!) { scoreRecording(id: $id, score: 1) { __typename ... on UserError { code } } }',
    ):
        assert mgr.data(mutation, {"id": foreign}) == {next(iter(mgr.data(mutation, {"id": foreign}))): {"__typename": "UserError", "code": "NOT_FOUND"}}
    body = org["appliance"].api.data("query($id: ID!) { recording(id: $id) { id } }", {"id": foreign})
    assert body["recording"]["id"] == foreign  # it exists; the manager just cannot see it
