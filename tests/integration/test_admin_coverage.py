"""Administration paths: the `recorder admin` commands, deleting devices, roles, employees
and organisations, push devices found by cache address or host name, and the orphan sweep."""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from appliance.db.connect import DatabaseUrl
from appliance.db.migrations import LATEST, migrate
from tests.conftest import POSTGRES_LOCALE
from tests.integration.test_housekeeping_and_init import _upload
from tests.integration.test_siprec_calls import LABELS, PARTIES, Recorder, two_stream_call
from tests.support import sipp
from tests.support.audio import tone_pcm, wav_bytes
from tests.support.people import create_org, random_prefix
from tests.support.server import ApplianceServer, Client, create_device, prepare_admin

ROOT = Path(__file__).resolve().parents[2]
AUDIO = wav_bytes(tone_pcm(1.0), 8000)
PASSWORD = "Emp-Pass-2024"
ME = "{ me { login } }"
SEARCH = "query($f: RecordingFilter) { recordings(filter: $f, pageSize: 200) { total items { id callerOrg } } }"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite in the data dir, else a new PostgreSQL database."""
    return request.getfixturevalue("postgres").create_database("adm") if request.param == "postgres" else None


def _refusal(body: dict) -> tuple[str | None, str | None]:
    """(code, message) of a GraphQL error answer; (None, None) when it was not refused."""
    error = (body.get("errors") or [{}])[0]
    return error.get("extensions", {}).get("code"), error.get("message")


# --- recorder admin migrate / token / export-schema -------------------------------------


def _database(server: ApplianceServer) -> DatabaseUrl:
    """The database the server's environment names (by default SQLite in its data dir)."""
    return DatabaseUrl.parse(server.env.get("RECORDER_DATABASE_URL", f"sqlite://{server.data_dir / 'recorder.db'}"))


def _versions(server: ApplianceServer) -> list[int]:
    conn = _database(server).connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT version FROM schema_version ORDER BY version")
        return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def test_migrate_builds_a_fresh_database_then_changes_nothing(database_url):
    server = ApplianceServer(database_url)
    first = server.cli("admin", "migrate")
    assert first.stdout.strip() == f"schema at version {LATEST}; applied: {list(range(1, LATEST + 1))}"
    assert _versions(server) == list(range(1, LATEST + 1))
    # The appliance runs on it, and its data survives a second migrate.
    server.start()
    try:
        _, token = prepare_admin(server)
    finally:
        server.stop()
    again = server.cli("admin", "migrate")
    assert again.returncode == 0 and again.stdout.strip() == f"schema at version {LATEST}; applied: nothing"
    assert _versions(server) == list(range(1, LATEST + 1))
    server.start()
    try:
        assert Client(server.url, token=token).data(ME)["me"]["login"] == "admin"
    finally:
        server.stop()


def test_migrate_applies_only_the_missing_steps():
    server = ApplianceServer()
    assert migrate(_database(server), target=LATEST - 3) == list(range(1, LATEST - 2))
    out = server.cli("admin", "migrate").stdout.strip()
    assert out == f"schema at version {LATEST}; applied: {list(range(LATEST - 2, LATEST + 1))}"
    assert _versions(server) == list(range(1, LATEST + 1))


def _cli_token(server: ApplianceServer, name: str, user: str = "admin") -> tuple[int, str]:
    lines = server.cli("admin", "token", "create", "--name", name, "--user", user).stdout.strip().splitlines()
    assert lines[0].startswith("token ") and f"'{name}' acts as {user}" in lines[0], lines
    return int(lines[0].split()[1]), lines[-1]


def _listed(server: ApplianceServer, token_id: int) -> list[str] | None:
    """The `token list` row of one token, split on tabs; None when it is not listed."""
    for line in server.cli("admin", "token", "list").stdout.splitlines():
        cells = line.split("\t")
        if cells[0] == str(token_id):
            return cells
    return None


def test_token_list_and_revoke(appliance, unique):
    server = appliance.server
    token_id, secret = _cli_token(server, f"crm-{unique}")
    integrator = Client(server.url, token=secret)
    assert integrator.data(ME)["me"]["login"] == "admin"
    assert _listed(server, token_id)[:4] == [str(token_id), f"crm-{unique}", "admin", "active"]

    out = server.cli("admin", "token", "revoke", str(token_id)).stdout.strip()
    assert out == f"token {token_id} 'crm-{unique}' revoked"
    # Listed as revoked (not hidden), refused by every path, and other tokens still work.
    assert _listed(server, token_id)[:4] == [str(token_id), f"crm-{unique}", "admin", "revoked"]
    assert integrator.data(ME)["me"] is None
    assert _refusal(integrator.gql("{ recordings { total } }")) == ("UNAUTHENTICATED", "not logged in")
    assert integrator.http.get("/api/v1/recordings/export.xlsx", params={"ids": "1"}).status_code == 401
    assert appliance.api.data(ME)["me"]["login"] == "admin"
    tokens = {t["id"]: t for t in appliance.api.data("{ apiTokens { id name revoked } }")["apiTokens"]}
    assert tokens[str(token_id)] == {"id": str(token_id), "name": f"crm-{unique}", "revoked": True}

    missing = server.cli("admin", "token", "revoke", "987654321", check=False)
    assert missing.returncode == 2 and missing.stderr.strip() == "recorder: no such token"


def test_export_schema_prints_and_writes_the_committed_schema(tmp_path):
    server = ApplianceServer()  # the environment only: the command needs no server
    committed = (ROOT / "graphql" / "schema.graphql").read_text(encoding="utf-8")
    printed = server.cli("admin", "export-schema", "--output", "-")
    assert printed.stdout == committed
    target = tmp_path / "schema.graphql"
    written = server.cli("admin", "export-schema", "-o", str(target))
    assert written.stdout.strip() == f"wrote {target}"
    assert target.read_text(encoding="utf-8") == committed


# --- devices: delete, and push devices found by cache address or host name -------------

DEVICES = "{ devices { id alias address cacheAddress } }"
DELETE_DEVICE = "mutation($id: ID!) { deleteDevice(id: $id) { deleted } }"
BY_DEVICE = "query($d: String!) { recordings(filter: {device: $d}, pageSize: 100) { total items { id } } }"
DEVICE_AUDIT = 'query { auditLog(filter: {type: "DEVICE"}, pageSize: 200) { items { event params } } }'


def _aliases(admin: Client) -> set[str]:
    return {d["alias"] for d in admin.data(DEVICES)["devices"]}


def test_a_device_without_recordings_is_deleted_and_its_secret_no_longer_uploads(appliance):
    admin = appliance.admin
    device = create_device(admin, secret="soon-gone-1")
    assert admin.data(DELETE_DEVICE, {"id": device["id"]})["deleteDevice"] == {"deleted": 1}
    assert device["alias"] not in _aliases(admin)
    assert appliance.upload(AUDIO, device=device).status_code == 401
    assert admin.data(BY_DEVICE, {"d": device["alias"]})["recordings"]["total"] == 0
    events = admin.data(DEVICE_AUDIT)["auditLog"]["items"]
    assert {"event": "device_deleted", "params": {"alias": device["alias"], "address": "192.0.2.10"}} in events
    assert _refusal(admin.gql(DELETE_DEVICE, {"id": device["id"]})) == ("NOT_FOUND", "no such device")


def test_a_device_with_recordings_or_an_organisation_is_kept(appliance, unique):
    """The code keeps a device that recorded (even once all its calls are deleted: the rows
    stay) or that an organisation is bound to: refused with CONFLICT, nothing changes."""
    admin = appliance.admin
    recorded = create_device(admin)
    first = appliance.upload(AUDIO, device=recorded)
    assert first.status_code == 201, first.text
    refused = admin.gql(DELETE_DEVICE, {"id": recorded["id"]})
    assert _refusal(refused) == ("CONFLICT", f"device {recorded['alias']} has recordings; it cannot be deleted")
    assert recorded["alias"] in _aliases(admin)
    listed = admin.data(BY_DEVICE, {"d": recorded["alias"]})["recordings"]
    assert [i["id"] for i in listed["items"]] == [first.json()["id"]]
    assert appliance.upload(AUDIO, device=recorded).status_code == 201

    ids = [i["id"] for i in admin.data(BY_DEVICE, {"d": recorded["alias"]})["recordings"]["items"]]
    gone = admin.data("mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { deleted } }", {"ids": ids})
    assert gone["deleteRecordings"]["deleted"] == 2
    still = admin.gql(DELETE_DEVICE, {"id": recorded["id"]})
    assert _refusal(still) == ("CONFLICT", f"device {recorded['alias']} has recordings; it cannot be deleted")
    assert recorded["alias"] in _aliases(admin)

    bound = create_device(admin)
    org_name = f"Bound-{unique}"
    create_org(admin, org_name, random_prefix(), bound["id"])
    refused = admin.gql(DELETE_DEVICE, {"id": bound["id"]})
    assert _refusal(refused) == ("CONFLICT", f"device {bound['alias']} is bound to {org_name}; unbind it first")
    assert bound["alias"] in _aliases(admin)
    assert appliance.upload(AUDIO, device=bound).status_code == 201


CREATE_DEVICE = """mutation($i: DeviceInput!) { createDevice(input: $i) {
    __typename ... on Device { id } ... on UserError { code message } } }"""
UPDATE_DEVICE = """mutation($id: ID!, $i: DeviceInput!) { updateDevice(id: $id, input: $i) {
    __typename ... on Device { address cacheAddress } ... on UserError { code message } } }"""


@pytest.mark.skipif(not sipp.have_sipp(), reason="sipp (sip-tester) is not installed")
@pytest.mark.parametrize(
    ("change", "shown"),
    [({"cacheAddress": "127.0.0.1"}, "192.0.2.77"), ({"address": "localhost"}, "localhost")],
    ids=["cache-address", "host-name"],
)
def test_a_siprec_call_belongs_to_the_push_device_its_source_matches(fresh_server, tmp_path, change, shown):
    admin, token = prepare_admin(fresh_server)
    recorder = Recorder(fresh_server, admin, Client(fresh_server.url, token=token), tmp_path)
    spec = {"alias": "pbx-far", "address": "192.0.2.77", "secret": "pbx-secret", "mode": "PUSH"}
    device = admin.data(CREATE_DEVICE, {"i": spec})["createDevice"]
    assert device["__typename"] == "Device", device
    fresh_server.wait_capture_knows((int(device["id"]), "192.0.2.77"))
    # Nothing of the device names 127.0.0.1 yet: its calls are refused (the setting is REJECT).
    before = recorder.call(
        sipp.invite_to_cancel(LABELS, PARTIES), sipp.recv(100, optional=True), sipp.recv(403), sipp.ack_failed()
    )
    assert recorder.total() == before

    changed = admin.data(UPDATE_DEVICE, {"id": device["id"], "i": {**spec, "secret": "", **change}})
    assert changed["updateDevice"]["__typename"] == "Device", changed
    fresh_server.wait_capture_knows((int(device["id"]), next(iter(change.values()))))
    before = recorder.call(*two_stream_call(1, tmp_path / "rtp.json"))
    got = recorder.recording(before)
    assert got["device"] == shown
    assert [i["id"] for i in admin.data(BY_DEVICE, {"d": "pbx-far"})["recordings"]["items"]] == [got["id"]]
    assert _aliases(admin) == {"pbx-far"}  # attributed, not registered as a new device


# --- roles, employees and organisations ------------------------------------------------

CREATE_ROLE = """mutation($i: RoleInput!) { createRole(input: $i) {
    __typename ... on Role { id } ... on UserError { code message } } }"""
UPDATE_ROLE = """mutation($id: ID!, $i: RoleInput!) { updateRole(id: $id, input: $i) {
    __typename ... on Role { departmentIds actions } ... on UserError { code message } } }"""
CREATE_EMPLOYEE = """mutation($i: EmployeeInput!) { createEmployee(input: $i) {
    __typename ... on Employee { id login } ... on UserError { code message } } }"""
DELETED = "__typename ... on DeleteResult { deleted } ... on UserError { code message }"
ACTIONS = "{ me { profile { actions } } }"


def _world(appliance, unique: str) -> dict:
    """Top (its own device) > East, West; a role managing East; employees 201 in East, 301 in
    West and manager 900 in Top; one call of each."""
    admin = appliance.admin
    device = create_device(admin)
    names = {k: f"{k}-{unique}" for k in ("Top", "East", "West")}
    prefixes = {k: random_prefix() for k in names}
    ids = {"Top": create_org(admin, names["Top"], prefixes["Top"], device["id"])}
    for k in ("East", "West"):
        ids[k] = create_org(admin, names[k], prefixes[k], parent=ids["Top"])
    role = admin.data(CREATE_ROLE, {"i": {"name": f"Leads {unique}", "departmentIds": [ids["East"]], "actions": ["PLAY"]}})
    assert role["createRole"]["__typename"] == "Role", role
    people = {}
    for org, extension, roles in (("East", "201", []), ("West", "301", []), ("Top", "900", [role["createRole"]["id"]])):
        made = admin.data(CREATE_EMPLOYEE, {"i": {"extension": extension, "name": f"Person {extension}",
                                                  "organizationId": ids[org], "password": PASSWORD, "roleIds": roles}})
        assert made["createEmployee"]["__typename"] == "Employee", made
        people[extension] = made["createEmployee"]
    calls = {}
    for extension in ("201", "301", "900"):
        up = appliance.upload(AUDIO, device=device, caller=extension, callee="555")
        assert up.status_code == 201, up.text
        calls[extension] = up.json()["id"]
    return {"names": names, "prefixes": prefixes, "ids": ids, "role": role["createRole"]["id"],
            "people": people, "calls": calls, "device": device}


def _sign_in(appliance, login: str) -> Client:
    client = Client(appliance.server.url)
    answer = client.login(login, PASSWORD)
    assert answer["__typename"] == "LoginSuccess", answer
    return client


def _visible(client: Client) -> set[str]:
    return {i["id"] for i in client.data(SEARCH, {"f": {"kind": None}})["recordings"]["items"]}


def _exported_rows(client: Client, recording_id: str) -> int | None:
    """Rows of the xlsx export of one recording; None when it is refused."""
    r = client.http.get("/api/v1/recordings/export.xlsx", params={"ids": recording_id})
    if r.status_code == 403:
        return None
    assert r.status_code == 200, r.text
    return len(list(openpyxl.load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))) - 1


def test_a_role_update_or_delete_changes_its_holders_rights_at_once(appliance, unique):
    world = _world(appliance, unique)
    calls, admin = world["calls"], appliance.admin
    manager = _sign_in(appliance, world["prefixes"]["Top"] + "900")
    assert _visible(manager) == {calls["201"], calls["900"]}
    assert manager.data(ACTIONS)["me"]["profile"]["actions"] == ["DOWNLOAD", "PLAY"]
    assert _exported_rows(manager, calls["201"]) is None

    spec = {"name": f"Leads {unique}", "departmentIds": [world["ids"]["West"]], "actions": ["PLAY", "EXPORT"]}
    updated = admin.data(UPDATE_ROLE, {"id": world["role"], "i": spec})["updateRole"]
    assert updated == {"__typename": "Role", "departmentIds": [world["ids"]["West"]], "actions": ["EXPORT", "PLAY"]}
    # The same session, no new sign-in: West instead of East, and the export.
    assert _visible(manager) == {calls["301"], calls["900"]}
    assert manager.data(ACTIONS)["me"]["profile"]["actions"] == ["DOWNLOAD", "EXPORT", "PLAY"]
    assert _exported_rows(manager, calls["301"]) == 1

    removed = admin.data(f"mutation($id: ID!) {{ deleteRole(id: $id) {{ {DELETED} }} }}", {"id": world["role"]})
    assert removed["deleteRole"] == {"__typename": "DeleteResult", "deleted": 1}
    assert _visible(manager) == {calls["900"]}
    assert manager.data(ACTIONS)["me"]["profile"]["actions"] == ["DOWNLOAD", "PLAY"]
    assert _exported_rows(manager, calls["900"]) is None
    assert world["role"] not in {r["id"] for r in admin.data("{ roles { id } }")["roles"]}
    staff = admin.data("query($o: ID) { employees(organizationId: $o) { login roleIds } }", {"o": world["ids"]["Top"]})
    holder = next(e for e in staff["employees"] if e["login"] == world["prefixes"]["Top"] + "900")
    assert holder["roleIds"] == []


def test_a_deleted_employee_cannot_sign_in_and_their_calls_stay(appliance, unique):
    world = _world(appliance, unique)
    calls, admin, server = world["calls"], appliance.admin, appliance.server
    login = world["prefixes"]["East"] + "201"
    employee = _sign_in(appliance, login)
    token_id, secret = _cli_token(server, f"emp-{unique}", user=login)
    assert _visible(employee) == {calls["201"]}
    assert _visible(Client(server.url, token=secret)) == {calls["201"]}
    manager = _sign_in(appliance, world["prefixes"]["Top"] + "900")
    assert _visible(manager) == {calls["201"], calls["900"]}

    gone = admin.data(f"mutation($id: ID!) {{ deleteEmployee(id: $id) {{ {DELETED} }} }}",
                      {"id": world["people"]["201"]["id"]})
    assert gone["deleteEmployee"] == {"__typename": "DeleteResult", "deleted": 1}
    # Their open session and their token end with the account; the token is gone from the list.
    assert employee.data(ME)["me"] is None
    assert Client(server.url, token=secret).data(ME)["me"] is None
    assert _listed(server, token_id) is None
    again = Client(server.url).login(login, PASSWORD)
    assert again["__typename"] == "LoginError" and again["code"] == "UNAUTHENTICATED"
    # The call stays, with no owner: the administrator sees it without an organisation, and
    # the manager of East, who saw it through that organisation, no longer does.
    kept = admin.data("query($id: ID!) { recording(id: $id) { id caller callerOrg } }", {"id": calls["201"]})
    assert kept["recording"] == {"id": calls["201"], "caller": "201", "callerOrg": None}
    assert _visible(manager) == {calls["900"]}
    assert admin.data("query($o: ID) { employees(organizationId: $o) { id } }", {"o": world["ids"]["East"]})["employees"] == []


ORGS = "{ organizations { id name prefix deviceId parentId } }"
DELETE_ORG = f"mutation($id: ID!) {{ deleteOrganization(id: $id) {{ {DELETED} }} }}"


def test_an_empty_organisation_is_deleted_and_a_non_empty_one_is_refused(appliance, unique):
    world = _world(appliance, unique)
    admin, names, ids = appliance.admin, world["names"], world["ids"]
    empty = create_org(admin, f"Empty-{unique}", random_prefix(), parent=ids["Top"])
    spec = {"name": f"Leads {unique}", "departmentIds": [ids["East"], empty], "actions": ["PLAY"]}
    assert admin.data(UPDATE_ROLE, {"id": world["role"], "i": spec})["updateRole"]["__typename"] == "Role"
    before = admin.data(ORGS)["organizations"]

    for org, message in (
        ("Top", f"{names['Top']} has sub-organisations; move or delete them first"),
        ("West", f"{names['West']} still has employees; move or delete them first"),
    ):
        refused = admin.data(DELETE_ORG, {"id": ids[org]})["deleteOrganization"]
        assert refused == {"__typename": "UserError", "code": "CONFLICT", "message": message}
    assert admin.data(ORGS)["organizations"] == before
    _sign_in(appliance, world["prefixes"]["West"] + "301")
    assert admin.data("query($id: ID!) { recording(id: $id) { callerOrg } }",
                      {"id": world["calls"]["301"]})["recording"]["callerOrg"] == names["West"]

    deleted = admin.data(DELETE_ORG, {"id": empty})["deleteOrganization"]
    assert deleted == {"__typename": "DeleteResult", "deleted": 1}
    assert admin.data(ORGS)["organizations"] == [o for o in before if o["id"] != empty]
    # The roles that managed it no longer name it.
    roles = {r["id"]: r["departmentIds"] for r in admin.data("{ roles { id departmentIds } }")["roles"]}
    assert roles[world["role"]] == [ids["East"]]


# --- the orphan sweep ---------------------------------------------------------------------

# A day folder's files are looked up by a range on relpath, which holds in code-point order
# only: under zh_CN.UTF-8's collation it once matched nothing, and every recording older
# than an hour was swept as an orphan. "postgres-C" is a database in code-point order.
@pytest.fixture(params=["sqlite", "postgres", "postgres-C"])
def sweep_server(request: pytest.FixtureRequest) -> Iterator[ApplianceServer]:
    url = None
    if request.param != "sqlite":
        locale = "C.UTF-8" if request.param.endswith("-C") else POSTGRES_LOCALE
        url = request.getfixturevalue("postgres").create_database("sweep", locale)
    server = ApplianceServer(url).start()
    yield server
    server.stop()


def _stored(data: Path) -> set[str]:
    """The data directory's files, but the database's and the capture's cache (the running
    server changes those as it goes), relative to it."""
    found = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()}
    return {f for f in found if not f.startswith(("recorder.db", "capture-cache.json"))}


def test_the_sweep_removes_old_orphans_and_nothing_else(sweep_server):
    server, data = sweep_server, sweep_server.data_dir
    admin, _ = prepare_admin(server)
    device = create_device(admin)
    ids = [_upload(server, device, f"{day}T09:30:00+00:00")["id"] for day in ("2024-05-01", "2024-06-02")]
    audio = {i: admin.http.get(f"/api/v1/recordings/{i}/audio").content for i in ids}
    # A transcoded copy in the cache, which the sweep must leave alone.
    assert admin.http.get(f"/api/v1/recordings/{ids[0]}/audio", params={"format": "wav"}).status_code == 200
    real = _stored(data)
    days = sorted({str(Path(f).parent) for f in real if f.startswith("recordings/")})
    assert len(days) == 2, real
    # A row whose file is gone is not the sweep's business (check-storage reports it).
    lost = _upload(server, device, "2024-07-04T09:30:00+00:00")
    (lost_file,) = _stored(data) - real
    (data / lost_file).unlink()
    storage = server.cli("admin", "check-storage", check=False)
    assert storage.returncode == 1 and f"recording {lost['id']} (SN {lost['sn']}) file {lost_file}" in storage.stdout

    orphans = {
        f"{days[0]}/{uuid.uuid4().hex}.mp3.enc",  # beside a real recording
        f"recordings/2023/12/31/{uuid.uuid4().hex}.mp3.enc",  # in a directory no row names
        f"{days[1]}/.{uuid.uuid4().hex}.mp3.enc.part",  # a write a crash cut short
        f"cache/transcoded/ab/.{'ab' * 32}.wav.part",  # half a transcoded copy
    }
    young = f"{days[0]}/{uuid.uuid4().hex}.mp3.enc"  # may be a row being inserted right now
    for relpath in (*orphans, young, "notes.txt"):  # notes.txt: outside the store
        (data / relpath).parent.mkdir(parents=True, exist_ok=True)
        (data / relpath).write_bytes(b"left behind")
    two_hours_ago = time.time() - 7200
    for relpath in _stored(data) - {young}:
        os.utime(data / relpath, (two_hours_ago, two_hours_ago))
    before = _stored(data)

    out = server.cli("admin", "sweep-orphans").stdout.strip().splitlines()
    in_store = {o for o in orphans if o.startswith("recordings/")}
    assert sorted(out[:-1]) == sorted(f"removed {o}" for o in in_store)
    assert out[-1] == f"{len(in_store)} orphaned files removed"
    assert _stored(data) == before - orphans
    for i in ids:
        assert admin.http.get(f"/api/v1/recordings/{i}/audio").content == audio[i]
    assert server.cli("admin", "check-storage", check=False).stdout == storage.stdout
    assert admin.data(SEARCH, {"f": {"kind": None}})["recordings"]["total"] == 3
