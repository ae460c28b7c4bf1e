"""Rights on writes: administration is the administrators' alone; a role right allows its action, in its departments."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest

from tests.support.audio import tone_pcm, wav_bytes
from tests.support.people import PASSWORD, create_employee, create_org, create_role, random_prefix
from tests.support.server import Client, create_device

AUDIO = wav_bytes(tone_pcm(1.0), 8000)
RIGHTS = ["PLAY", "DOWNLOAD", "EXPORT", "SCORE_TAG", "DELETE"]
ACTORS = ["employee", "manager", "employee's token", "manager's token"]

# Everything an administrator can read back that a refused write could have changed.
# Tokens without lastUsedAt: the refused request itself uses the actor's token.
STATE = """{
  devices { id alias mode address cacheAddress pullbackHours pullProtocol pullPath pullUsername
            pullInterval pullIntervalUnit createdAt }
  organizations { id name prefix deviceId parentId }
  roles { id name departmentIds actions }
  employees { id login extension name phone organizationId roleIds }
  settings { fileFormat logLevel sipPort logRetentionDays mixingGain channelMode encryption
             showZeroDuration diskUsageLimit unknownPushSource rtpPortMin rtpPortMax rtpTimeoutSeconds }
  apiTokens { id name login createdAt revoked }
  alarmSettings { events { event onScreen email level threshold recipients }
                  mail { host port security username passwordSet sender language }
                  snmpReceivers { host port version communitySet user notify }
                  snmpAgent { enabled host port communitySet v3Users { user } } }
  alarms { total items { id acknowledgedAt } }
  backupTargets { id kind enabled location username passwordSet keepMonths diskLimitPercent lastRunAt }
  backupSettings { policies { policy every unit at weekdays monthDays } passphraseSet nextRunAt includeConfig }
  backupLog { total }
}"""


@dataclass
class Actor:
    client: Client
    login: str
    employee: dict[str, Any]  # the person's row as the administrator reads it


@dataclass
class World:
    appliance: Any
    device: dict[str, Any]
    spare_device: dict[str, Any]
    orgs: dict[str, str]
    names: dict[str, str]
    prefixes: dict[str, str]
    roles: dict[str, str]
    actors: dict[str, Actor]
    victim: Actor
    victim_token: dict[str, str]
    holders: dict[str, Client]
    tag: str  # in every name this module makes
    alarm_id: str = ""  # an active alarm no one else may acknowledge
    pull_device_id: str = ""  # a pull device at a closed port: fetching it reaches nothing
    backup_target_id: str = ""  # a disabled local target

    @property
    def admin(self) -> Client:
        return self.appliance.admin

    @property
    def url(self) -> str:
        return self.appliance.server.url


def _own_token(client: Client, name: str) -> dict[str, str]:
    """A token made by its user for themself, as an integrator does from the console."""
    made = client.data(
        "mutation($n: String!) { createApiToken(name: $n) { __typename ... on NewApiToken { secret token { id } } ... on UserError { code message } } }",
        {"n": name},
    )["createApiToken"]
    assert made["__typename"] == "NewApiToken", made
    return {"id": made["token"]["id"], "secret": made["secret"]}


@pytest.fixture(scope="module")
def world(appliance) -> World:
    """Dept and Other on one device, people and tokens in them, and one holder per right."""
    # The holders' organisation has no device: no call is theirs, so what they may do
    # comes from their role alone.
    admin, url = appliance.admin, appliance.server.url
    tag = uuid.uuid4().hex[:6]
    device, spare_device = create_device(admin), create_device(admin)
    prefixes = {k: random_prefix() for k in ("dept", "other", "holders", "spare")}
    names = {k: f"{k}-{tag}" for k in prefixes}
    orgs = {
        "dept": create_org(admin, names["dept"], prefixes["dept"], device["id"]),
        "other": create_org(admin, names["other"], prefixes["other"], device["id"]),
        "holders": create_org(admin, names["holders"], prefixes["holders"]),
        "spare": create_org(admin, names["spare"], prefixes["spare"]),
    }
    roles = {
        "manager": create_role(admin, f"Managers {tag}", [orgs["dept"]], RIGHTS),
        "spare": create_role(admin, f"Other managers {tag}", [orgs["other"]], RIGHTS),
        **{right: create_role(admin, f"{right} only {tag}", [orgs["dept"]], [right]) for right in RIGHTS},
    }
    employee = create_employee(admin, url, "201", orgs["dept"], prefixes["dept"], [])
    manager = create_employee(admin, url, "900", orgs["dept"], prefixes["dept"], [roles["manager"]])
    victim = create_employee(admin, url, "301", orgs["other"], prefixes["other"], [])
    holders = {
        right: create_employee(admin, url, f"50{n}", orgs["holders"], prefixes["holders"], [roles[right]])
        for n, right in enumerate(RIGHTS)
    }
    rows = {e["login"]: e for e in admin.data("{ employees { id login extension name phone organizationId roleIds } }")["employees"]}

    def actor(client: Client, login: str) -> Actor:
        return Actor(client, login, rows[login])

    logins = {"employee": prefixes["dept"] + "201", "manager": prefixes["dept"] + "900"}
    actors = {
        "employee": actor(employee, logins["employee"]),
        "manager": actor(manager, logins["manager"]),
        "employee's token": actor(Client(url, _own_token(employee, f"emp-{tag}")["secret"]), logins["employee"]),
        "manager's token": actor(Client(url, _own_token(manager, f"mgr-{tag}")["secret"]), logins["manager"]),
    }
    drill = appliance.server.cli("admin", "alarm", "raise", "SERVICE_ABORTED", "--subject", f"rights-{tag}")
    pull = admin.data(
        "mutation($i: DeviceInput!) { createDevice(input: $i) { ... on Device { id } } }",
        {"i": {"alias": f"pbx-{tag}", "mode": "PULL", "address": "127.0.0.1:9", "secret": "pbx-secret",
               "pullProtocol": "FTP", "pullUsername": "pbx"}},
    )["createDevice"]
    target = admin.data(
        "mutation($i: BackupTargetInput!) { setBackupTarget(input: $i) { ... on BackupTarget { id } } }",
        {"i": {"kind": "LOCAL", "location": "/var/tmp", "enabled": False}},
    )["setBackupTarget"]
    return World(
        appliance, device, spare_device, orgs, names, prefixes, roles, actors,
        actor(victim, prefixes["other"] + "301"), _own_token(victim, f"victim-{tag}"), holders, tag,
        alarm_id=drill.stdout.split()[1], pull_device_id=pull["id"], backup_target_id=target["id"],
    )


def _state(world: World) -> dict[str, Any]:
    return world.admin.data(STATE)


def _forbidden(body: dict[str, Any]) -> bool:
    """Refused as a whole: no data, and one error, FORBIDDEN."""
    return body.get("data") is None and [e["extensions"]["code"] for e in body.get("errors", [])] == ["FORBIDDEN"]


def _victim_signs_in_with_the_old_password(world: World) -> None:
    result = Client(world.url).login(world.victim.login, PASSWORD)
    assert result["__typename"] == "LoginSuccess", result


# --- 1. Administration -------------------------------------------------------------------


@dataclass(frozen=True)
class AdminCase:
    """An admin-only field called with arguments that would change something if allowed."""

    field: str
    query: str
    variables: Callable[[World, Actor], dict[str, Any]]
    also: Callable[[World], None] | None = None  # a check the state read cannot make
    label: str = ""  # when a field has more than one case


def _employee_input(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"extension": row["extension"], "name": row["name"], "organizationId": row["organizationId"],
            "phone": row["phone"], "roleIds": row["roleIds"], **changes}


def _settings_change(world: World, _: Actor) -> dict[str, Any]:
    days = world.admin.data("{ settings { logRetentionDays } }")["settings"]["logRetentionDays"]
    return {"i": {"logRetentionDays": days % 3650 + 1}}


def _device_input(alias: str) -> dict[str, Any]:
    return {"alias": alias, "address": "192.0.2.99", "secret": "rogue-secret-1", "mode": "PUSH"}


def _new_name() -> str:
    return f"rogue-{uuid.uuid4().hex[:8]}"


ADMIN_MUTATIONS = [
    AdminCase("createDevice", "mutation($i: DeviceInput!) { createDevice(input: $i) { __typename } }",
              lambda w, a: {"i": _device_input(_new_name())}),
    AdminCase("updateDevice", "mutation($id: ID!, $i: DeviceInput!) { updateDevice(id: $id, input: $i) { __typename } }",
              lambda w, a: {"id": w.spare_device["id"], "i": {**_device_input(_new_name()), "secret": ""}}),
    AdminCase("deleteDevice", "mutation($id: ID!) { deleteDevice(id: $id) { deleted } }",
              lambda w, a: {"id": w.spare_device["id"]}),
    AdminCase("createOrganization", "mutation($i: OrganizationInput!) { createOrganization(input: $i) { __typename } }",
              lambda w, a: {"i": {"name": _new_name(), "prefix": random_prefix()}}),
    # Moving Other under Dept would put Other's calls in the manager's scope.
    AdminCase("updateOrganization", "mutation($id: ID!, $i: OrganizationInput!) { updateOrganization(id: $id, input: $i) { __typename } }",
              lambda w, a: {"id": w.orgs["other"], "i": {"name": w.names["other"], "prefix": w.prefixes["other"],
                                                         "deviceId": w.device["id"], "parentId": w.orgs["dept"]}}),
    AdminCase("deleteOrganization", "mutation($id: ID!) { deleteOrganization(id: $id) { __typename } }",
              lambda w, a: {"id": w.orgs["spare"]}),
    AdminCase("createRole", "mutation($i: RoleInput!) { createRole(input: $i) { __typename } }",
              lambda w, a: {"i": {"name": _new_name(), "departmentIds": [w.orgs["other"]], "actions": RIGHTS}}),
    AdminCase("updateRole", "mutation($id: ID!, $i: RoleInput!) { updateRole(id: $id, input: $i) { __typename } }",
              lambda w, a: {"id": w.roles["manager"], "i": {"name": _new_name(), "departmentIds": [w.orgs["dept"], w.orgs["other"]],
                                                            "actions": RIGHTS}}),
    AdminCase("deleteRole", "mutation($id: ID!) { deleteRole(id: $id) { __typename } }",
              lambda w, a: {"id": w.roles["spare"]}),
    AdminCase("createEmployee", "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename } }",
              lambda w, a: {"i": {"extension": "777", "name": "Rogue", "organizationId": w.orgs["dept"], "password": "Rogue-Pass-2024",
                                  "roleIds": [w.roles["manager"]]}}),
    # Granting oneself a role over another department.
    AdminCase("updateEmployee", "mutation($id: ID!, $i: EmployeeInput!) { updateEmployee(id: $id, input: $i) { __typename } }",
              lambda w, a: {"id": a.employee["id"], "i": _employee_input(a.employee, roleIds=[*a.employee["roleIds"], w.roles["spare"]])}),
    # Setting someone else's password: the only ways are updateEmployee and the import (the
    # command line's reset-password is not on the network; changePassword is one's own).
    AdminCase("updateEmployee", "mutation($id: ID!, $i: EmployeeInput!) { updateEmployee(id: $id, input: $i) { __typename } }",
              lambda w, a: {"id": w.victim.employee["id"], "i": _employee_input(w.victim.employee, password="Stolen-Pass-2024")},
              also=_victim_signs_in_with_the_old_password, label="updateEmployee-password"),
    AdminCase("deleteEmployee", "mutation($id: ID!) { deleteEmployee(id: $id) { __typename } }",
              lambda w, a: {"id": w.victim.employee["id"]}),
    AdminCase("updateSettings", "mutation($i: SettingsInput!) { updateSettings(input: $i) { __typename } }", _settings_change),
    AdminCase("updateAlarmEvent", "mutation($i: AlarmEventInput!) { updateAlarmEvent(input: $i) { __typename } }",
              lambda w, a: {"i": {"event": "CPU_HIGH", "onScreen": False, "email": True, "level": "LOW",
                                  "threshold": 3, "recipients": ["rogue@example.com"]}}),
    AdminCase("updateMailSettings", "mutation($i: MailSettingsInput!) { updateMailSettings(input: $i) { __typename } }",
              lambda w, a: {"i": {"host": "127.0.0.1", "port": 2525, "security": "NONE", "sender": "rogue@example.com",
                                  "password": "rogue-pass"}}),
    AdminCase("sendTestEmail", "mutation { sendTestEmail(to: \"rogue@example.com\") { __typename } }", lambda w, a: {}),
    AdminCase("setSnmpReceivers", "mutation($r: [SnmpReceiverInput!]!) { setSnmpReceivers(receivers: $r) { __typename } }",
              lambda w, a: {"r": [{"host": "127.0.0.1", "port": 9, "version": "V2C", "community": "rogue"}]}),
    AdminCase("updateSnmpAgent", "mutation($i: SnmpAgentInput!) { updateSnmpAgent(input: $i) { __typename } }",
              lambda w, a: {"i": {"enabled": True, "host": "127.0.0.1", "port": 16199, "community": "rogue-community"}}),
    AdminCase("sendTestTrap", "mutation { sendTestTrap { ok } }", lambda w, a: {}),
    AdminCase("acknowledgeAlarm", "mutation($id: ID!) { acknowledgeAlarm(id: $id) { __typename } }",
              lambda w, a: {"id": w.alarm_id}),
    AdminCase("pullNow", "mutation($id: ID!) { pullNow(deviceId: $id) { fetched } }",
              lambda w, a: {"id": w.pull_device_id}),
    AdminCase("testPullDevice", "mutation($id: ID!) { testPullDevice(deviceId: $id) { ok } }",
              lambda w, a: {"id": w.pull_device_id}),
    AdminCase("acceptPullHostKey", "mutation($id: ID!) { acceptPullHostKey(deviceId: $id) { __typename } }",
              lambda w, a: {"id": w.pull_device_id}),
    # Backups: a target of one's own (where the recordings would go), and the rest.
    AdminCase("setBackupTarget", "mutation($i: BackupTargetInput!) { setBackupTarget(input: $i) { __typename } }",
              lambda w, a: {"i": {"kind": "LOCAL", "location": "/tmp"}}),
    AdminCase("setBackupTarget", "mutation($i: BackupTargetInput!) { setBackupTarget(input: $i) { __typename } }",
              lambda w, a: {"i": {"id": w.backup_target_id, "kind": "FTP", "location": "ftp://127.0.0.1:9/x",
                                  "username": "rogue", "password": "rogue"}}, label="setBackupTarget-existing"),
    AdminCase("deleteBackupTarget", "mutation($id: ID!) { deleteBackupTarget(id: $id) { deleted } }",
              lambda w, a: {"id": w.backup_target_id}),
    AdminCase("setBackupPolicies", "mutation($p: [BackupPolicyInput!]!) { setBackupPolicies(policies: $p) { __typename } }",
              lambda w, a: {"p": [{"policy": "INTERVAL", "every": 1, "unit": "SECONDS"}]}),
    AdminCase("setBackupPassphrase", "mutation { setBackupPassphrase(passphrase: \"rogue passphrase 1\") { __typename } }",
              lambda w, a: {}),
    AdminCase("setBackupIncludeConfig", "mutation { setBackupIncludeConfig(include: true) { includeConfig } }",
              lambda w, a: {}),
    AdminCase("backupNow", "mutation($id: ID!) { backupNow(targetId: $id) { result } }",
              lambda w, a: {"id": w.backup_target_id}),
    AdminCase("testBackupTarget", "mutation($id: ID!) { testBackupTarget(targetId: $id) { ok } }",
              lambda w, a: {"id": w.backup_target_id}),
    AdminCase("importBackup", "mutation($id: ID!) { importBackup(targetId: $id, passphrase: \"x\") { result } }",
              lambda w, a: {"id": w.backup_target_id}),
    # Making the appliance half of a pair would hand its recordings and master key to the
    # peer named here: the role must stay as it was.
    AdminCase("updateHaSettings",
              "mutation($i: HaSettingsInput!) { updateHaSettings(input: $i) { __typename } }",
              lambda w, a: {"i": {"role": "PRIMARY", "peerAddress": "127.0.0.1:9",
                                  "pairingSecret": "a rogue pairing secret"}},
              also=lambda w: _still_standalone(w)),
    AdminCase("syncNow", "mutation { syncNow { role } }", lambda w, a: {}),
    AdminCase("makePrimary", "mutation { makePrimary { role } }", lambda w, a: {},
              also=lambda w: _still_standalone(w)),
]
ADMIN_QUERIES = [
    AdminCase("devices", "{ devices { id alias address } }", lambda w, a: {}),
    AdminCase("employees", "{ employees { id login } }", lambda w, a: {}),
    AdminCase("roles", "{ roles { id name } }", lambda w, a: {}),
    AdminCase("settings", "{ settings { sipPort } }", lambda w, a: {}),
    AdminCase("auditLog", "{ auditLog { total } }", lambda w, a: {}),
    AdminCase("alarms", "{ alarms { total } }", lambda w, a: {}),
    AdminCase("alarmSettings", "{ alarmSettings { engineId } }", lambda w, a: {}),
    AdminCase("systemMetrics", "{ systemMetrics { cpuPercent } }", lambda w, a: {}),
    AdminCase("metricHistory", "{ metricHistory { at } }", lambda w, a: {}),
    AdminCase("pullPublicKey", "{ pullPublicKey }", lambda w, a: {}),
    AdminCase("backupLog", "{ backupLog { total } }", lambda w, a: {}),
    AdminCase("backupTargets", "{ backupTargets { id location } }", lambda w, a: {}),
    AdminCase("backupSettings", "{ backupSettings { passphraseSet } }", lambda w, a: {}),
    AdminCase("backupSets", "query($id: ID!) { backupSets(targetId: $id) { name } }",
              lambda w, a: {"id": w.backup_target_id}),
    AdminCase("haStatus", "{ haStatus { role peer fingerprint } }", lambda w, a: {}),
]


def _still_standalone(world: World) -> None:
    found = world.admin.data("{ haStatus { role peer pairingSecretSet } }")["haStatus"]
    assert found == {"role": "STANDALONE", "peer": "", "pairingSecretSet": False}, found
# Open to anyone signed in, each for a reason; what is admin-only inside them is tested below.
SIGNED_IN_MUTATIONS = {
    "login", "logout",
    "changePassword",  # one's own only
    "createApiToken", "revokeApiToken",  # one's own; others' in test_others_tokens_are_out_of_reach
    "scoreRecording", "tagRecording", "untagRecording", "deleteRecordings",  # by role right, part 2
    "protectRecordings",  # the delete right, part 2
}
SIGNED_IN_QUERIES = {
    "me", "captcha", "apiTokens", "recordings", "recording", "tagSuggestions", "activeCalls",
    "organizations", "systemInfo",
    "report",  # in one's scope (test_reports); its department template is administrators'
    "passwordRules",  # public: the policy every password follows, shown before the first try
    "applianceRole",  # whether this console is a standby's (read-only), for the banner
}


def test_every_root_field_of_the_live_schema_is_classified(world):
    """Every query and mutation the server offers is in the admin table or the signed-in one."""
    # The schema does not say which fields are admin-only (IsAdmin is a resolver's permission
    # class), so these tables are the list: a field added to the server and to neither table
    # fails here, and once in the admin table it must be refused to pass.
    schema = world.actors["employee"].client.data(
        "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }"
    )["__schema"]
    mutations = {f["name"] for f in schema["mutationType"]["fields"]}
    queries = {f["name"] for f in schema["queryType"]["fields"]}
    admin_mutations = {c.field for c in ADMIN_MUTATIONS}
    admin_queries = {c.field for c in ADMIN_QUERIES}
    assert not admin_mutations & SIGNED_IN_MUTATIONS and not admin_queries & SIGNED_IN_QUERIES
    assert mutations == admin_mutations | SIGNED_IN_MUTATIONS, "classify: " + ", ".join(sorted(mutations ^ (admin_mutations | SIGNED_IN_MUTATIONS)))
    assert queries == admin_queries | SIGNED_IN_QUERIES, "classify: " + ", ".join(sorted(queries ^ (admin_queries | SIGNED_IN_QUERIES)))


@pytest.mark.parametrize("case", ADMIN_MUTATIONS + ADMIN_QUERIES, ids=lambda c: c.label or c.field)
def test_admin_only_fields_are_refused_and_change_nothing(world, case):
    for name in ACTORS:
        actor = world.actors[name]
        before = _state(world)
        body = actor.client.gql(case.query, case.variables(world, actor))
        assert _forbidden(body), (name, body)
        after = _state(world)
        assert after == before, (name, [k for k in before if before[k] != after[k]])
        if case.also:
            case.also(world)


def test_others_tokens_are_out_of_reach(world):
    """Making a token for another, revoking another's or listing others' is refused."""
    victim = world.victim_token
    create = "mutation($l: String!) { createApiToken(name: \"rogue\", login: $l) { __typename ... on UserError { code } } }"
    revoke = "mutation($id: ID!) { revokeApiToken(id: $id) { id revoked } }"
    assert victim["id"] in {t["id"] for t in world.admin.data("{ apiTokens { id } }")["apiTokens"]}
    for name in ACTORS:
        actor = world.actors[name]
        before = _state(world)
        made = actor.client.data(create, {"l": world.victim.login})["createApiToken"]
        assert made == {"__typename": "UserError", "code": "FORBIDDEN"}, (name, made)
        assert _state(world) == before, name
        # Someone else's token answers as a missing one.
        assert actor.client.data(revoke, {"id": victim["id"]})["revokeApiToken"] is None, name
        assert _state(world) == before, name
        assert Client(world.url, victim["secret"]).data("{ me { login } }")["me"]["login"] == world.victim.login
        listed = actor.client.data("{ apiTokens { id login } }")["apiTokens"]
        assert listed and {t["login"] for t in listed} == {actor.login}, (name, listed)


def test_employee_import_is_refused_and_imports_nothing(world):
    """A new manager, oneself given another department, and someone else's password."""
    names = world.names
    csv_text = (
        "分机号,姓名,密码,联络电话,所属组织,角色\r\n"
        f"778,Rogue,Rogue-Pass-2024,,{names['dept']},Managers {world.tag}\r\n"
        f"301,Victim,Stolen-Pass-2024,,{names['other']},\r\n"
    )
    for name in ACTORS:
        actor = world.actors[name]
        own = f"{actor.employee['extension']},Me,,,{names['dept']},Other managers {world.tag}\r\n"
        before = _state(world)
        r = actor.client.http.post(
            "/api/v1/employees/import",
            files={"file": ("staff.csv", (csv_text + own).encode("utf-8"), "text/csv")},
        )
        assert r.status_code == 403, (name, r.status_code, r.text)
        assert _state(world) == before, name
        _victim_signs_in_with_the_old_password(world)


def test_audit_export_is_refused_without_a_file(world):
    for name in ACTORS:
        r = world.actors[name].client.http.get("/api/v1/audit/export.xlsx")
        assert r.status_code == 403, (name, r.status_code)
        assert r.headers["content-type"].startswith("application/json"), name
        assert "content-disposition" not in r.headers and not r.content.startswith(b"PK"), name
    ok = world.admin.http.get("/api/v1/audit/export.xlsx")
    assert ok.status_code == 200 and ok.content.startswith(b"PK")


# --- 2. Role rights ------------------------------------------------------------------


@dataclass(frozen=True)
class Rec:
    id: str
    sn: str
    audio: bytes  # what the administrator is served


def _call(world: World, caller: str) -> Rec:
    up = world.appliance.upload(AUDIO, device=world.device, caller=caller, callee="555")
    assert up.status_code == 201, up.text
    rec = up.json()
    audio = world.admin.http.get(f"/api/v1/recordings/{rec['id']}/audio")
    assert audio.status_code == 200 and audio.content
    return Rec(rec["id"], rec["sn"], audio.content)


def _read(world: World, rec: Rec) -> dict[str, Any] | None:
    return world.admin.data(
        "query($id: ID!) { recording(id: $id) { score playCount tags { name } protected } }", {"id": rec.id}
    )["recording"]


def _sheet_sns(response) -> list[str]:
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    column = rows[0].index("SN")
    return sorted(row[column] for row in rows[1:])


def _dept_sns(world: World) -> list[str]:
    """Every call with a party in Dept, as the administrator finds them."""
    found: set[str] = set()
    for party in ("callerOrg", "calleeOrg"):
        page = world.admin.data(
            f"query($o: String!) {{ recordings(filter: {{{party}: $o}}, pageSize: 200) {{ total items {{ sn }} }} }}",
            {"o": world.names["dept"]},
        )["recordings"]
        assert page["total"] < 200
        found |= {i["sn"] for i in page["items"]}
    return sorted(found)


def _play(world: World, holder: Client, inside: Rec, outside: Rec, allowed: bool) -> None:
    plays = _read(world, inside)["playCount"]
    r = holder.http.get(f"/api/v1/recordings/{inside.id}/audio")
    assert r.status_code == (200 if allowed else 403), r.status_code
    assert (r.content == inside.audio) is allowed
    assert _read(world, inside)["playCount"] == plays + allowed
    plays = _read(world, outside)["playCount"]
    assert holder.http.get(f"/api/v1/recordings/{outside.id}/audio").status_code == 404
    assert _read(world, outside)["playCount"] == plays


def _download(world: World, holder: Client, inside: Rec, outside: Rec, allowed: bool) -> None:
    both = holder.http.get("/api/v1/recordings/archive.zip", params={"ids": f"{inside.id},{outside.id}"})
    alone = holder.http.get("/api/v1/recordings/archive.zip", params={"ids": outside.id})
    if not allowed:
        # Every holder may download their own calls: a call they cannot see is not found,
        # one their role shows them without the right is refused.
        assert (both.status_code, alone.status_code) == (403, 404)
        assert not both.content.startswith(b"PK")
        return
    assert both.status_code == 200 and alone.status_code == 404
    with zipfile.ZipFile(io.BytesIO(both.content)) as zf:
        assert [zf.read(n) for n in zf.namelist()] == [inside.audio]


def _export(world: World, holder: Client, inside: Rec, outside: Rec, allowed: bool) -> None:
    picked = holder.http.get("/api/v1/recordings/export.xlsx", params={"ids": f"{inside.id},{outside.id}", "lang": "en"})
    listed = holder.http.get("/api/v1/recordings/export.xlsx", params={"lang": "en"})
    if not allowed:
        assert (picked.status_code, listed.status_code) == (403, 403)
        assert not picked.content.startswith(b"PK") and not listed.content.startswith(b"PK")
        return
    assert _sheet_sns(picked) == [inside.sn]
    everything = _sheet_sns(listed)
    assert everything == _dept_sns(world) and inside.sn in everything and outside.sn not in everything


CHANGES: dict[str, tuple[str, Callable[[dict[str, Any], str], bool]]] = {
    "score": ("mutation($id: ID!) { m: scoreRecording(id: $id, score: 4) { __typename ... on UserError { code } } }",
              lambda rec, _: rec["score"] == 4),
    "tag": ("mutation($id: ID!, $n: String!) { m: tagRecording(id: $id, name: $n) { __typename ... on UserError { code } } }",
            lambda rec, name: name in {t["name"] for t in rec["tags"]}),
    "untag": ("mutation($id: ID!, $n: String!) { m: untagRecording(id: $id, name: $n) { __typename ... on UserError { code } } }",
              lambda rec, name: name not in {t["name"] for t in rec["tags"]}),
}


def _change(kind: str) -> Callable[[World, Client, Rec, Rec, bool], None]:
    """A score, tag or untag, its effect read back by the administrator."""
    query, done = CHANGES[kind]

    def check(world: World, holder: Client, inside: Rec, outside: Rec, allowed: bool) -> None:
        name = f"t-{uuid.uuid4().hex[:8]}"
        if kind == "untag":
            for rec in (inside, outside):
                world.admin.data("mutation($id: ID!, $n: String!) { tagRecording(id: $id, name: $n) { __typename } }",
                                 {"id": rec.id, "n": name})

        def attempt(rec: Rec) -> dict[str, Any]:
            return holder.data(query, {"id": rec.id, **({"n": name} if "$n" in query else {})})["m"]

        got = attempt(inside)
        assert got == ({"__typename": "Recording"} if allowed else {"__typename": "UserError", "code": "FORBIDDEN"}), got
        assert done(_read(world, inside), name) is allowed
        assert attempt(outside) == {"__typename": "UserError", "code": "NOT_FOUND"}
        assert not done(_read(world, outside), name)

    return check


def _protect(world: World, holder: Client, inside: Rec, outside: Rec, allowed: bool) -> None:
    """Legal hold needs the delete right: it decides what deleting may do."""
    query = "mutation($ids: [ID!]!, $p: Boolean!) { protectRecordings(ids: $ids, protect: $p) { changed } }"
    body = holder.gql(query, {"ids": [inside.id, outside.id], "p": True})
    if allowed:
        assert body == {"data": {"protectRecordings": {"changed": 1}}}, body
        refused = holder.gql("mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { deleted } }", {"ids": [inside.id]})
        assert (refused["errors"][0]["extensions"]["code"], refused["errors"][0]["extensions"]["rule"]) == (
            "CONFLICT", "protected"), refused
        assert _read(world, inside) is not None
        lifted = holder.gql(query, {"ids": [inside.id], "p": False})
        assert lifted == {"data": {"protectRecordings": {"changed": 1}}}, lifted
    else:
        assert _forbidden(body), body
    assert _read(world, inside)["protected"] is False
    assert _read(world, outside)["protected"] is False


def _delete(world: World, holder: Client, inside: Rec, outside: Rec, allowed: bool) -> None:
    body = holder.gql("mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { deleted } }", {"ids": [inside.id, outside.id]})
    if allowed:
        assert body == {"data": {"deleteRecordings": {"deleted": 1}}}, body
    else:
        assert _forbidden(body), body
    assert (_read(world, inside) is None) is allowed
    assert _read(world, outside) is not None


# Each operation a recording offers, with the right it needs; deleting last.
OPERATIONS: dict[str, tuple[str, Callable[[World, Client, Rec, Rec, bool], None]]] = {
    "play": ("PLAY", _play),
    "download": ("DOWNLOAD", _download),
    "export": ("EXPORT", _export),
    "score": ("SCORE_TAG", _change("score")),
    "tag": ("SCORE_TAG", _change("tag")),
    "untag": ("SCORE_TAG", _change("untag")),
    "protect": ("DELETE", _protect),
    "delete": ("DELETE", _delete),
}


def _run(world: World, right: str, operations: list[str]) -> None:
    inside, outside = _call(world, "201"), _call(world, "301")
    holder = world.holders[right]
    for op in operations:
        needs, check = OPERATIONS[op]
        try:
            check(world, holder, inside, outside, needs == right)
        except AssertionError as exc:
            raise AssertionError(f"{right} holder, {op}: {exc}") from exc


@pytest.mark.parametrize("right", RIGHTS)
def test_a_right_allows_its_action_within_the_departments_only(world, right):
    """Holders are employees too, whose own play and download reach only their own calls:
    over a department the role's rights alone count."""
    _run(world, right, list(OPERATIONS))
