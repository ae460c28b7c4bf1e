"""Permission answers per request (issue 11, #8) and permissions as the README says (#11)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.audio import tone_pcm, wav_bytes
from tests.support.people import create_employee, create_org, create_role, random_prefix
from tests.support.server import DEFAULT_PASSWORD, Client, create_device, first_login

AUDIO = wav_bytes(tone_pcm(1.0), 8000)
RECORDINGS = "{ recordings { total } }"  # IsAuthenticated
SETTINGS = "{ settings { sipPort } }"  # IsAdmin
DELETE = "mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { deleted } }"


def code(client: Client, query: str = RECORDINGS) -> str | None:
    body = client.gql(query)
    return body["errors"][0]["extensions"]["code"] if body.get("errors") else None


# --- #8: no permission error outlives its request -----------------------------------


def test_signed_out_requests_get_unauthenticated_after_other_refusals(fresh_server):
    url = fresh_server.url
    anonymous = Client(url)
    default = Client(url)
    assert default.login("admin", DEFAULT_PASSWORD)["user"]["mustChangePassword"] is True
    # Anonymous first, then the password-change refusal, then anonymous again; on a field
    # guarded by each permission class.
    for query in (RECORDINGS, SETTINGS):
        assert code(anonymous, query) == "UNAUTHENTICATED"
        assert code(default, query) == "PASSWORD_CHANGE_REQUIRED"
        assert code(anonymous, query) == "UNAUTHENTICATED"
        assert code(default, query) == "PASSWORD_CHANGE_REQUIRED"

    admin = first_login(url)
    device = create_device(admin)
    prefix = random_prefix()
    org = create_org(admin, f"org-{uuid.uuid4().hex[:6]}", prefix, device["id"])
    employee = create_employee(admin, url, "201", org, prefix, [])
    for query in (SETTINGS, "{ auditLog { total } }", "{ devices { alias } }"):
        assert code(employee, query) == "FORBIDDEN"
        assert code(anonymous, query) == "UNAUTHENTICATED"
        assert code(anonymous, RECORDINGS) == "UNAUTHENTICATED"
        # The reverse: a signed-out refusal leaves nothing behind for the next one either.
        assert code(employee, query) == "FORBIDDEN"
        assert code(employee, RECORDINGS) is None
        assert code(admin, query) is None


def test_concurrent_requests_each_get_their_own_answer(fresh_server):
    """Many refusals of each kind at once, interleaved on the server's shared instances."""
    url = fresh_server.url
    anonymous = Client(url)
    default = Client(url)
    default.login("admin", DEFAULT_PASSWORD)
    expected_before = [(anonymous, "UNAUTHENTICATED"), (default, "PASSWORD_CHANGE_REQUIRED")] * 20
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda pair: code(pair[0], SETTINGS), expected_before))
    assert got == [want for _, want in expected_before]

    admin = first_login(url)
    prefix = random_prefix()
    org = create_org(admin, f"org-{uuid.uuid4().hex[:6]}", prefix, create_device(admin)["id"])
    employee = create_employee(admin, url, "202", org, prefix, [])
    expected_after = [(anonymous, "UNAUTHENTICATED"), (employee, "FORBIDDEN"), (admin, None)] * 15
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda pair: code(pair[0], SETTINGS), expected_after))
    assert got == [want for _, want in expected_after]


# --- #11: devices for administrators; delete by the role's right, within scope ------


@pytest.fixture(scope="module")
def org(appliance):
    """Dept (device A) > Sub; Other (device A). Managers of Dept with and without DELETE."""
    admin, url = appliance.admin, appliance.server.url
    tag = uuid.uuid4().hex[:6]
    device = create_device(admin)
    prefixes = {k: random_prefix() for k in ("dept", "sub", "other")}
    dept = create_org(admin, f"Dept-{tag}", prefixes["dept"], device["id"])
    sub = create_org(admin, f"Sub-{tag}", prefixes["sub"], parent=dept)
    other = create_org(admin, f"Other-{tag}", prefixes["other"], device["id"])
    deleters = create_role(admin, f"Deleters {tag}", [dept], ["PLAY", "DELETE"])
    viewers = create_role(admin, f"Viewers {tag}", [dept], ["PLAY", "DOWNLOAD", "EXPORT", "SCORE_TAG"])
    people = {
        "deleter": create_employee(admin, url, "900", dept, prefixes["dept"], [deleters]),
        "viewer": create_employee(admin, url, "901", dept, prefixes["dept"], [viewers]),
        "employee": create_employee(admin, url, "201", dept, prefixes["dept"], []),
        "sub": create_employee(admin, url, "401", sub, prefixes["sub"], []),
        "outsider": create_employee(admin, url, "301", other, prefixes["other"], []),
    }
    return {"appliance": appliance, "device": device, "people": people, "deleter_login": prefixes["dept"] + "900"}


def _upload(org, caller: str, callee: str) -> dict:
    r = org["appliance"].upload(AUDIO, device=org["device"], caller=caller, callee=callee)
    assert r.status_code == 201, r.text
    return r.json()


def _exists(org, rec_id: str) -> bool:
    found = org["appliance"].api.data("query($id: ID!) { recording(id: $id) { id } }", {"id": rec_id})
    return found["recording"] is not None


def test_devices_are_for_administrators_only(org):
    appliance = org["appliance"]
    for who in ("employee", "deleter", "viewer"):
        body = org["people"][who].gql("{ devices { alias address cacheAddress } }")
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (who, body)
    # An integrator token acts with its user's rights: an employee's token is refused too.
    out = appliance.server.cli("admin", "token", "create", "--name", "crm-emp", "--user", org["deleter_login"])
    token = out.stdout.strip().splitlines()[-1]
    body = Client(appliance.server.url, token).gql("{ devices(mode: PUSH) { alias } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    aliases = {d["alias"] for d in appliance.admin.data("{ devices { alias address } }")["devices"]}
    assert org["device"]["alias"] in aliases


def test_the_delete_right_deletes_within_scope_only(org):
    in_dept = _upload(org, "201", "555")
    in_sub = _upload(org, "777", "401")
    outside = _upload(org, "301", "555")
    nobodys = _upload(org, "888", "999")
    deleter = org["people"]["deleter"]
    ids = [in_dept["id"], in_sub["id"], outside["id"], nobodys["id"], "999999999"]
    assert deleter.data(DELETE, {"ids": ids})["deleteRecordings"]["deleted"] == 2
    assert not _exists(org, in_dept["id"]) and not _exists(org, in_sub["id"])
    assert _exists(org, outside["id"]) and _exists(org, nobodys["id"])
    # Audited, as the manager.
    entries = org["appliance"].admin.data(
        "query($f: AuditFilter) { auditLog(filter: $f, pageSize: 100) { items { account type details } } }",
        {"f": {"account": org["deleter_login"], "type": "DELETE"}},
    )["auditLog"]["items"]
    details = " ".join(e["details"] for e in entries)
    assert in_dept["sn"] in details and in_sub["sn"] in details and outside["sn"] not in details


def test_without_the_delete_right_deleting_is_forbidden(org):
    own = _upload(org, "201", "555")
    for who in ("employee", "viewer", "outsider"):
        body = org["people"][who].gql(DELETE, {"ids": [own["id"]]})
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (who, body)
    assert _exists(org, own["id"])
    # Administrators keep the right over everything.
    assert org["appliance"].admin.data(DELETE, {"ids": [own["id"]]})["deleteRecordings"]["deleted"] == 1


def test_a_flood_of_refused_requests_writes_no_tracebacks(fresh_server):
    """Refusals and invalid queries are answers, not faults: an anonymous flood of them must
    not fill the log (each used to write a 20-line traceback)."""
    log = fresh_server.root / "server.log"
    anonymous = Client(fresh_server.url)
    before = log.stat().st_size
    for query in (SETTINGS, RECORDINGS, "{ nosuchfield }", "{ recordings { total "):
        for _ in range(25):
            assert anonymous.gql(query).get("errors")
    grown = log.read_text()[before:]
    assert "Traceback" not in grown
    assert len(grown) < 100 * 200  # the access log's line per request, and no more
