"""The published contract: the exported SDL matches the code, and every example runs."""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.support.audio import tone_pcm, wav_bytes
from tests.support.live import Subscriber
from tests.support.server import ADMIN_PASSWORD, Client

ROOT = Path(__file__).parents[2]
OPERATIONS = sorted((ROOT / "graphql" / "operations").glob("*.graphql"))
# Deleting comes last so the other examples still find the recording.
OPERATIONS.sort(key=lambda p: p.name == "DeleteRecordings.graphql")


def test_exported_schema_is_in_step_with_the_code():
    from appliance.api.graphql.schema import sdl

    committed = (ROOT / "graphql" / "schema.graphql").read_text(encoding="utf-8")
    assert committed == sdl(), "run: recorder admin export-schema"


def test_contract_names_of_the_spec_exist():
    from appliance.api.graphql.schema import schema

    text = schema.as_str()
    for needle in (
        "recordings(filter: RecordingFilter = null, page: Int! = 1, pageSize: Int! = 20): RecordingPage!",
        "recording(id: ID!): Recording",
        "devices(",
        "scoreRecording(id: ID!, score: Int!)",
        "tagRecording(id: ID!, name: String!, offset: Float = null)",
        "deleteRecordings(ids: [ID!]!)",
        "createDevice(input: DeviceInput!)",
        "createOrganization(input: OrganizationInput!)",
        "createRole(input: RoleInput!)",
        "createEmployee(input: EmployeeInput!)",
        "enum RecordingKind",
        "audioUrl: String!",
        "backupLog(filter: BackupLogFilter = null, page: Int! = 1, pageSize: Int! = 20): BackupLogPage!",
        "backupTargets: [BackupTarget!]!",
        "setBackupTarget(input: BackupTargetInput!)",
        "setBackupPolicies(policies: [BackupPolicyInput!]!)",
        "setBackupPassphrase(passphrase: String!)",
        "backupNow(targetId: ID!): BackupRunResult!",
        "protectRecordings(ids: [ID!]!, protect: Boolean!)",
        "report(template: ReportTemplate!, at: Date = null, from: DateTime = null, to: DateTime = null, "
        "filter: RecordingFilter = null, measure: ReportMeasure = CALLS, page: Int = 1, pageSize: Int = 20",
        "enum ReportTemplate {\n  DAILY\n  MONTHLY\n  YEARLY\n  DEPARTMENT\n  CUSTOM\n}",
        "enum ReportMeasure {\n  CALLS\n  TALK_TIME\n}",
        "peakConcurrent: Int\n",
    ):
        assert needle in text, needle


@pytest.fixture(scope="module")
def recording(appliance):
    import random
    import string

    caller = str(uuid.uuid4().int % 10**8)
    r = appliance.upload(wav_bytes(tone_pcm(1.0), 8000), caller=caller)
    prefix = "".join(random.choice(string.ascii_uppercase) for _ in range(4))
    made = appliance.admin.data(
        "mutation($i: OrganizationInput!) { createOrganization(input: $i) { ... on Organization { id } } }",
        {"i": {"name": f"ops-{uuid.uuid4().hex[:8]}", "prefix": prefix}},
    )["createOrganization"]
    PREFIX_OF[made["id"]] = prefix
    raised = appliance.server.cli("admin", "alarm", "raise", "BACKUP_FAILED", "--error", "contract drill")
    alarm_id = raised.stdout.split()[1]
    pull = appliance.admin.data(
        "mutation($i: DeviceInput!) { createDevice(input: $i) { ... on Device { id } } }",
        {"i": {"alias": f"pbx-{uuid.uuid4().hex[:8]}", "mode": "PULL", "address": "127.0.0.1:9",
               "secret": "pbx-secret", "pullProtocol": "FTP", "pullUsername": "pbx"}},
    )["createDevice"]
    passphrase = f"contract {uuid.uuid4().hex}"
    appliance.admin.data("mutation($p: String!) { setBackupPassphrase(passphrase: $p) { __typename } }",
                         {"p": passphrase})  # fmt: skip
    targets = []
    for _ in range(2):
        added = appliance.admin.data(
            "mutation($i: BackupTargetInput!) { setBackupTarget(input: $i) { ... on BackupTarget { id } } }",
            {"i": {"kind": "LOCAL", "location": tempfile.mkdtemp(prefix="recorder-contract-backup-"),
                   "diskLimitPercent": 100}},
        )  # fmt: skip
        targets.append(added["setBackupTarget"]["id"])
    return {
        "$BACKUP_TARGET_ID": targets[0],
        "$SPARE_TARGET_ID": targets[1],
        "$BACKUP_PASSPHRASE": passphrase,
        "$PULL_DEVICE_ID": pull["id"],
        "$ALARM_ID": alarm_id,
        "$RECORDING_ID": r.json()["id"],
        "$CALLER": caller,
        "$ORG_ID": made["id"],
        "$PREFIX": "".join(random.choice(string.ascii_uppercase) for _ in range(4)),
    }


def _expected(stem: str, data: dict, variables: dict, appliance) -> None:
    """What each example must answer: the data it asked for, not only the absence of errors."""
    rec_id = variables.get("id") or (variables.get("ids") or [None])[0]
    checks = {
        "AcknowledgeAlarm": lambda: data["acknowledgeAlarm"]["id"] == variables["id"]
        and data["acknowledgeAlarm"]["acknowledgedBy"] == "admin",
        "Alarms": lambda: data["alarms"]["total"] >= 1
        and all((a["event"], a["state"]) == ("BACKUP_FAILED", "ACTIVE") for a in data["alarms"]["items"])
        and any(a["message"] == "backup failed: contract drill" for a in data["alarms"]["items"]),
        "AlarmSettings": lambda: [e["event"] for e in data["alarmSettings"]["events"]][:3]
        == ["CPU_HIGH", "MEMORY_HIGH", "STORAGE_HIGH"]
        and {p["key"] for p in data["alarmSettings"]["mailPresets"]} >= {"exmail", "163", "aliyun", "gmail"}
        and data["alarmSettings"]["engineId"].startswith("80001f8805"),
        # The drill raised by the trigger, or the fixture's, whichever comes first.
        "AlarmsLive": lambda: data["alarms"]["event"] in ("NO_RECORDING", "BACKUP_FAILED") and data["alarms"]["raisedAt"],
        # The example's device is at a closed port: the run says so, and stores nothing.
        "PullNow": lambda: (data["pullNow"]["error"], data["pullNow"]["fetched"]) == ("connect_failed", 0),
        "TestPullDevice": lambda: (data["testPullDevice"]["ok"], data["testPullDevice"]["error"])
        == (False, "connect_failed"),
        # The example's recording is backed up to a local folder; the log says so.
        "BackupNow": lambda: (data["backupNow"]["result"], data["backupNow"]["error"]) == ("DONE", "")
        and data["backupNow"]["recordings"] >= 1 and data["backupNow"]["setName"].startswith("rset-"),
        "BackupLog": lambda: isinstance(data["backupLog"]["items"], list),
        "ApplianceRole": lambda: data["applianceRole"] == "STANDALONE",
        "HaStatus": lambda: data["haStatus"]["role"] == "STANDALONE" and len(data["haStatus"]["fingerprint"]) == 64,
        "SyncNow": lambda: data["syncNow"]["role"] == "STANDALONE",
        "UpdateHaSettings": lambda: (data["updateHaSettings"]["periodSeconds"], data["updateHaSettings"]["witness"])
        == (300, "127.0.0.1") and data["updateHaSettings"]["role"] == "STANDALONE",
        "BackupProgress": lambda: data["backupProgress"]["running"] is False,
        "BackupSets": lambda: [s["state"] for s in data["backupSets"]] == ["CLOSED"],
        "BackupSettings": lambda: data["backupSettings"]["passphraseSet"] is True,
        "BackupTargets": lambda: [t["kind"] for t in data["backupTargets"]][:2] == ["LOCAL", "LOCAL"]
        and data["backupTargets"][0]["lastRun"]["result"] == "DONE",
        "DeleteBackupTarget": lambda: data["deleteBackupTarget"]["deleted"] == 1,
        # Everything in the set is on this appliance already: skipped, none twice.
        "ImportBackup": lambda: (data["importBackup"]["result"], data["importBackup"]["recordings"]) == ("DONE", 0)
        and data["importBackup"]["skipped"] >= 1,
        # Protected, then lifted again: deleting it (the last example) must still work.
        "ProtectRecordings": lambda: data["protectRecordings"]["changed"] == 1
        and appliance.admin.data("mutation($i: [ID!]!) { protectRecordings(ids: $i, protect: false) { changed } }",
                                 {"i": variables["ids"]})["protectRecordings"]["changed"] == 1,
        "SetBackupIncludeConfig": lambda: data["setBackupIncludeConfig"]["includeConfig"] is True,
        "SetBackupPassphrase": lambda: data["setBackupPassphrase"]["passphraseSet"] is True,
        "SetBackupPolicies": lambda: [p["policy"] for p in data["setBackupPolicies"]["policies"]] == ["INTERVAL", "WEEKLY"]
        and data["setBackupPolicies"]["nextRunAt"],
        "SetBackupTarget": lambda: data["setBackupTarget"]["location"] == "\\\\192.0.2.30\\rms_backup\\recorder"
        and data["setBackupTarget"]["passwordSet"] is True,
        "TestBackupTarget": lambda: data["testBackupTarget"]["ok"] is True and data["testBackupTarget"]["sets"],
        "AcceptPullHostKey": lambda: data["acceptPullHostKey"]["pullBlocked"] == "",
        "PullPublicKey": lambda: data["pullPublicKey"].startswith("ssh-ed25519 "),
        "MetricHistory": lambda: isinstance(data["metricHistory"], list),
        "SendTestEmail": lambda: data["sendTestEmail"]["ok"] is False
        and data["sendTestEmail"]["reason"] in ("not_configured", "unreachable"),
        "SendTestTrap": lambda: isinstance(data["sendTestTrap"], list),
        "SetSnmpReceivers": lambda: [r["version"] for r in data["setSnmpReceivers"]["snmpReceivers"]] == ["V2C", "V3"]
        and data["setSnmpReceivers"]["snmpReceivers"][0]["communitySet"] is True,
        "SystemMetrics": lambda: 0 <= data["systemMetrics"]["diskPercent"] <= 100
        and {s["name"] for s in data["systemMetrics"]["services"]} == {"api", "capture", "scheduler", "monitor", "failover"}
        and next(s for s in data["systemMetrics"]["services"] if s["name"] == "api")["state"] == "RUNNING",
        "UpdateAlarmEvent": lambda: data["updateAlarmEvent"]["threshold"] == 95
        and data["updateAlarmEvent"]["recipients"] == ["noc@example.com"],
        "UpdateMailSettings": lambda: data["updateMailSettings"]["mail"]["passwordSet"] is True
        and data["updateMailSettings"]["mail"]["host"] == "127.0.0.1",
        "UpdateSnmpAgent": lambda: data["updateSnmpAgent"]["snmpAgent"]["v3Users"][0]["user"] == "poller",
        "ActiveCalls": lambda: isinstance(data["activeCalls"], list),
        "ActiveCallsLive": lambda: isinstance(data["activeCalls"], list),
        "AuditLog": lambda: data["auditLog"]["total"] >= 1
        and all((e["account"], e["type"]) == ("admin", "LOGIN") for e in data["auditLog"]["items"]),
        "Captcha": lambda: data["captcha"] is None,  # captchas are off on the test appliance
        "CreateApiToken": lambda: data["createApiToken"]["secret"].startswith("rec_")
        and data["createApiToken"]["token"]["name"] == variables["name"],
        "CreateDevice": lambda: data["createDevice"]["alias"] == variables["input"]["alias"]
        and any(d["alias"] == variables["input"]["alias"] for d in appliance.admin.data("{ devices { alias } }")["devices"]),
        "CreateEmployee": lambda: data["createEmployee"]["login"] == PREFIX_OF[variables["input"]["organizationId"]] + "8001"
        and data["createEmployee"]["name"] == "Zhang San",
        "CreateOrganization": lambda: data["createOrganization"]["name"] == variables["input"]["name"],
        "CreateRole": lambda: data["createRole"]["actions"] == ["PLAY", "SCORE_TAG"],
        "DeleteRecordings": lambda: data["deleteRecordings"]["deleted"] == 1
        and appliance.api.data("query($id: ID!) { recording(id: $id) { id } }", {"id": rec_id})["recording"] is None,
        "Devices": lambda: appliance.device["alias"] in {d["alias"] for d in data["devices"]}
        and all(d["mode"] == "PUSH" for d in data["devices"]),
        "Employees": lambda: isinstance(data["employees"], list),
        # After id 0: the log's first entry (the test appliance's set-up wrote some).
        "EventsLive": lambda: data["events"]["id"] >= 1 and data["events"]["kind"] and data["events"]["at"],
        "Login": lambda: data["login"]["user"] == {"login": "admin", "name": data["login"]["user"]["name"],
                                                  "isAdmin": True, "mustChangePassword": False},
        "Me": lambda: data["me"]["login"] == "admin" and data["me"]["isAdmin"] is True,
        "Organizations": lambda: any(o["id"] in PREFIX_OF for o in data["organizations"]),
        "Recording": lambda: data["recording"]["id"] == rec_id and data["recording"]["duration"] == 1
        and data["recording"]["audioUrl"] == f"/api/v1/recordings/{rec_id}/audio",
        "Roles": lambda: isinstance(data["roles"], list),
        # The fixture's call of 2024-05-01 is in May's chart, on its day, with its talk time.
        "Report": lambda: data["report"]["grouping"] == "DAY" and len(data["report"]["series"]) == 31
        and next(p for p in data["report"]["series"] if p["label"] == "2024-05-01")["calls"] >= 1
        and data["report"]["talkSeconds"] >= 1 and data["report"]["extensions"]["total"] >= 1,
        "ScoreRecording": lambda: data["scoreRecording"] == {"__typename": "Recording", "id": rec_id, "score": 9},
        "SearchRecordings": lambda: data["recordings"]["total"] == 1
        and data["recordings"]["items"][0]["caller"] == variables["filter"]["caller"],
        "PasswordRules": lambda: data["passwordRules"] == {"minLength": 8, "maxLength": 128, "minKinds": 2},
        "Settings": lambda: (data["settings"]["fileFormat"], data["settings"]["encryption"]) == ("MP3", True)
        and {"field": "sipPort", "min": 1024, "max": 65535} in data["settings"]["ranges"]
        and [o["field"] for o in data["settings"]["overrides"]] == ["sipPort"],
        "SystemInfo": lambda: data["systemInfo"]["maxConcurrentChannels"] == 1000 and data["systemInfo"]["version"]
        and data["systemInfo"]["timeZone"] == str(appliance.server.zone),
        "TagRecording": lambda: {"name": "Good", "offset": 0.5} in data["tagRecording"]["tags"],
        "TagSuggestions": lambda: isinstance(data["tagSuggestions"], list),
        "UpdateSettings": lambda: data["updateSettings"]["diskUsageLimit"] == 85,
    }
    assert stem in checks, f"say what {stem}.graphql must answer"
    assert checks[stem](), (stem, data)


PREFIX_OF: dict[str, str] = {}


def _first_over_a_socket(appliance, text: str, variables: dict, trigger=None) -> dict:
    """A subscription's first result, over graphql-transport-ws as an integrator gets it."""
    payload = {"Authorization": f"Bearer {appliance.token}"}
    subscriber = Subscriber(appliance.server.url, payload=payload).acknowledged()
    try:
        subscriber.subscribe(text, variables=variables)
        if trigger is not None:
            time.sleep(1)  # the subscription reads the log's newest id first
            trigger()
        _, message = subscriber.wait_for(lambda m: m.get("id") == "1")
        assert message["type"] == "next", message
        return message["payload"]
    finally:
        subscriber.close()


# Examples whose answer on an appliance in no pair is a refusal, by its rule.
REFUSED = {"MakePrimary": "not_paired"}


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: p.stem)
def test_example_operation_runs(appliance, recording, path):
    text = path.read_text(encoding="utf-8")
    match = re.search(r"^# variables: (.*)$", text, re.M)
    assert match, f"{path.name} needs a '# variables:' line"
    raw = match.group(1)
    for key, value in {**recording, "$PASSWORD": ADMIN_PASSWORD, "$UNIQUE": uuid.uuid4().hex[:10]}.items():
        raw = raw.replace(key, value)
    variables = json.loads(raw)
    client = Client(appliance.server.url) if path.stem == "Login" else appliance.api
    # An example that changes a setting leaves it as it found it, for the tests after it.
    settings_before = appliance.admin.data("{ settings { diskUsageLimit } }")["settings"]
    try:
        if re.search(r"^subscription ", text, re.M):
            drill = (
                (lambda: appliance.server.cli("admin", "alarm", "raise", "NO_RECORDING", "--value", "61"))
                if path.stem == "AlarmsLive"
                else None
            )
            body = _first_over_a_socket(appliance, text, variables, drill)
        else:
            body = client.gql(text, variables)
        if path.stem in REFUSED:
            assert body["errors"][0]["extensions"]["rule"] == REFUSED[path.stem], body
            return
        assert "errors" not in body, body
        _expected(path.stem, body["data"], variables, appliance)
    finally:
        if path.stem == "UpdateSettings":
            appliance.admin.data(
                "mutation($i: SettingsInput!) { updateSettings(input: $i) { __typename } }", {"i": settings_before}
            )
