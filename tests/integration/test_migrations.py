"""Upgrading a database made by an older schema keeps its data, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from argon2 import PasswordHasher

from appliance.db.connect import DatabaseUrl
from appliance.db.migrations import LATEST, migrate
from appliance.media.crypto import MasterKey, encrypt
from tests.support.audio import tone_pcm, wav_bytes
from tests.support.server import ADMIN_PASSWORD, ApplianceServer, Client


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'old.db'}"
    return request.getfixturevalue("postgres").create_database("migr")


@pytest.fixture()
def url(database_url):
    return DatabaseUrl.parse(database_url)


def test_upgrade_from_version_1_keeps_recordings_and_tags(url):
    assert migrate(url, target=1) == [1]
    conn = url.connect()
    cur = conn.cursor()
    m = "?" if url.provider == "sqlite" else "%s"
    cur.execute(
        "INSERT INTO recording (id, sn, device_id, call_id, kind, caller, callee, started_at, duration, "
        "duration_ms, play_count, tag_count, file_format, relpath, disk_size, plain_size, sha256, encrypted, "
        f"source, created_at) VALUES (1, 'sn1', NULL, 'c1', 'voicemail', '201', '269', {m}, 5, 5000, 0, 3, "
        f"'MP3', 'r/1', 1, 1, 'x', {m}, 'upload', {m})",
        ("2021-01-13 15:01:02.000000", True, "2021-01-13 15:01:02.000000"),
    )
    for tag_id, name in ((1, "Good"), (2, "Good"), (3, "Bad")):
        cur.execute(
            f"INSERT INTO tag (id, recording_id, name, position, created_at) VALUES ({m}, 1, {m}, 1.0, {m})",
            (tag_id, name, "2021-01-13 15:02:00.000000"),
        )
    if url.provider == "postgres":
        conn.commit()
    conn.close()

    assert migrate(url) == list(range(2, LATEST + 1))
    assert migrate(url) == []
    conn = url.connect()
    cur = conn.cursor()
    cur.execute("SELECT id, name, kind, started_at FROM tag ORDER BY id")
    tags = cur.fetchall()
    assert [(t[0], t[1], t[2]) for t in tags] == [(2, "Good", "voicemail"), (3, "Bad", "voicemail")]
    assert all(str(t[3]).startswith("2021-01-13 15:01:02") for t in tags)
    cur.execute("SELECT tag_count FROM recording WHERE id = 1")
    assert cur.fetchone()[0] == 2
    cur.execute("SELECT kind, zero, n FROM recording_tally")
    assert cur.fetchall() == [("voicemail", 0, 1)]
    conn.close()


# --- the appliance started on the data of every earlier schema version ------------------

OLD, LATER, DELETED_AT = "2021-01-13 15:01:02.000000", "2099-01-01 00:00:00.000000", "2021-02-01 00:00:00.000000"
TOKEN, REVOKED, SESSION = "rec_old-integrator-token", "rec_old-revoked-token", "old-session-cookie"
EMPLOYEE_PASSWORD = "Emp-Pass-2021"
PLAIN = wav_bytes(tone_pcm(1.0), 8000)
RELPATH = "recordings/2021/01/13/0a1b2c3d4e5f60718293a4b5c6d7e8f9.wav.enc"
RECORDINGS = """query($f: RecordingFilter) { recordings(filter: $f, pageSize: 100) { total items {
    id sn device caller callerOrg callee startedAt duration score playCount kind fileFormat tags { name offset } } } }"""


@cache
def _hash(password: str) -> str:
    return PasswordHasher().hash(password)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _insert(cur: Any, provider: str, table: str, row: dict[str, Any], returning: bool = True) -> int | None:
    mark = "?" if provider == "sqlite" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join([mark] * len(row))})"
    if returning and provider == "postgres":
        cur.execute(sql + " RETURNING id", list(row.values()))
        return int(cur.fetchone()[0])
    cur.execute(sql, list(row.values()))
    return int(cur.lastrowid) if returning else None


def _old_data(url: DatabaseUrl, version: int, master: MasterKey, data_dir: Path) -> dict[str, int]:
    """What an appliance at `version` would have written: every table of that schema gets
    rows, through the ids its sequences hand out. Returns the ids."""
    sealed = b"".join(encrypt(master, PLAIN))
    (data_dir / RELPATH).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / RELPATH).write_bytes(sealed)
    conn = url.connect()
    cur, p = conn.cursor(), url.provider
    user = {"password_hash": _hash(ADMIN_PASSWORD), "is_admin": True, "must_change_password": False,
            "failed_logins": 0, "last_login_at": OLD, "enabled": True, "created_at": OLD}
    ids = {"admin": _insert(cur, p, "app_user", {"login": "admin", "name": "Administrator", **user})}
    _insert(cur, p, "user_session", {"token_hash": _sha(SESSION), "user_id": ids["admin"], "created_at": OLD,
                                     "expires_at": LATER, "ip": "127.0.0.1"})
    for token, revoked_at in ((TOKEN, None), (REVOKED, OLD)):
        _insert(cur, p, "api_token", {"name": token[4:], "token_hash": _sha(token), "user_id": ids["admin"],
                                      "created_at": OLD, "revoked_at": revoked_at})
    ids["device"] = _insert(cur, p, "device", {
        "alias": "old-gw", "mode": "PUSH", "address": "192.0.2.50", "secret_sealed": master.seal_text("old-secret"),
        "cache_address": "", "pullback_hours": 1, "pull_protocol": "", "pull_path": "", "pull_username": "",
        "pull_interval": 1, "pull_interval_unit": "DAY", "created_at": OLD})
    if version >= 4:
        ids["org"] = _insert(cur, p, "organization", {"name": "Old org", "prefix": "OLD", "device_id": ids["device"],
                                                      "created_at": OLD})
        actions = '["EXPORT", "PLAY"]' if version >= 12 else "EXPORT,PLAY"  # a list from step 12
        ids["role"] = _insert(cur, p, "role", {"name": "Old role", "actions": actions, "created_at": OLD})
        _insert(cur, p, "role_department", {"role_id": ids["role"], "organization_id": ids["org"]}, returning=False)
        ids["employee"] = _insert(cur, p, "app_user", {
            "login": "OLD201", "name": "Old employee", **user, "password_hash": _hash(EMPLOYEE_PASSWORD),
            "is_admin": False, "extension": "201", "phone": "13800000001", "organization_id": ids["org"]})
        _insert(cur, p, "user_role", {"user_id": ids["employee"], "role_id": ids["role"]}, returning=False)
    common = {"direction": None, "created_at": OLD, "encrypted": True, "source": "upload"}
    orgs = {"caller_org_id": ids["org"]} if version >= 4 else {}
    tags = [("Good", 1.0), ("Good", 2.0), ("Bad", None)] if version < 3 else [("Good", 2.0), ("Bad", None)]
    ids["call"] = _insert(cur, p, "recording", {
        **common, "sn": "20210113_230102_269", "device_id": ids["device"], "call_id": "c1", "kind": "call",
        "caller": "201", "callee": "269", "started_at": OLD, "duration": 1, "duration_ms": 1000, "score": 4,
        "play_count": 2, "tag_count": len(tags), "file_format": "WAV", "relpath": RELPATH, "disk_size": len(sealed),
        "plain_size": len(PLAIN), "sha256": hashlib.sha256(sealed).hexdigest(), **orgs})
    ids["voicemail"] = _insert(cur, p, "recording", {
        **common, "sn": "20210113_230500_201", "device_id": None, "call_id": "v1", "kind": "voicemail",
        "caller": "777", "callee": "201", "started_at": "2021-01-13 15:05:00.000000", "duration": 7,
        "duration_ms": 7000, "score": None, "play_count": 0, "tag_count": 1, "file_format": "MP3",
        "relpath": "recordings/2021/01/13/v1.mp3.enc", "disk_size": 1, "plain_size": 1, "sha256": "x"})
    ids["deleted"] = _insert(cur, p, "recording", {
        **common, "sn": "20210113_231000_269", "device_id": ids["device"], "call_id": "c3", "kind": "call",
        "caller": "201", "callee": "269", "started_at": OLD, "duration": 3, "duration_ms": 3000, "score": None,
        "play_count": 0, "tag_count": 0, "file_format": "MP3", "relpath": "recordings/2021/01/13/c3.mp3.enc",
        "disk_size": 1, "plain_size": 1, "sha256": "y", "deleted_at": DELETED_AT, **orgs})
    for recording, kind, name, position in [*(("call", "call", n, o) for n, o in tags), ("voicemail", "voicemail", "Urgent", None)]:
        placed = {"kind": kind, "started_at": OLD} if version >= 3 else {}
        _insert(cur, p, "tag", {"recording_id": ids[recording], "name": name, "position": position,
                                "user_id": ids["admin"], "created_at": OLD, **placed})
    _insert(cur, p, "score_event", {"recording_id": ids["call"], "user_id": ids["admin"], "score": 4, "created_at": OLD})
    for _ in range(2):
        _insert(cur, p, "play_event", {"recording_id": ids["call"], "user_id": ids["admin"], "ip": "127.0.0.1",
                                       "created_at": OLD})
    event = {"event": "token_created", "params": '{"name": "crm", "login": "admin"}'} if version >= 8 else {}
    _insert(cur, p, "audit_entry", {"at": OLD, "account": "admin", "name": "Administrator", "type": "TOKEN",
                                    "details": "created API token 'crm' for admin", "ip": "127.0.0.1", **event})
    for key, value in (("file_format", "WAV"), ("disk_usage_limit", "80")):
        _insert(cur, p, "setting", {"key": key, "value": value}, returning=False)
    if version >= 13:
        _insert(cur, p, "event_log", {"at": OLD, "kind": "device.created", "process": "api", "actor": "admin",
                                      "params": '{"alias": "old-gw"}'})
        _insert(cur, p, "event_cursor", {"reader": "old-reader", "last_id": 1}, returning=False)
    if version >= 14:
        job = _insert(cur, p, "job", {"name": "orphan sweep", "schedule": '{"policy":"INTERVAL","every":1,"unit":"HOURS"}', "next_run_at": OLD,
                                      "created_at": OLD})
        _insert(cur, p, "job_run", {"job_id": job, "runner": "old", "started_at": OLD, "finished_at": OLD,
                                    "result": "ok", "duration_ms": 5})
    if p == "postgres":
        conn.commit()
    conn.close()
    return {k: v for k, v in ids.items() if v is not None}


@pytest.mark.parametrize("version", range(1, LATEST))
def test_the_appliance_starts_on_the_data_of_an_earlier_version(database_url, version):
    """Every table's rows, written at `version`, arrive at the latest one and read through the API."""
    server = ApplianceServer(database_url)
    url = DatabaseUrl.parse(database_url)
    assert migrate(url, target=version) == list(range(1, version + 1))
    master = MasterKey.load_or_create(Path(server.env["RECORDER_KEY_FILE"]))
    ids = {k: str(v) for k, v in _old_data(url, version, master, server.data_dir).items()}
    server.start()
    try:
        _check_arrived(server, version, ids)
    finally:
        server.stop()


def _check_arrived(server: ApplianceServer, version: int, ids: dict[str, str]) -> None:
    admin = Client(server.url)
    signed_in = admin.login("admin", ADMIN_PASSWORD)
    assert signed_in["__typename"] == "LoginSuccess" and signed_in["user"]["mustChangePassword"] is False
    cookie = Client(server.url)
    cookie.http.cookies.set("recorder_session", SESSION)
    assert cookie.data("{ me { login } }")["me"] == {"login": "admin"}
    api = Client(server.url, token=TOKEN)
    assert api.data("{ me { login } }")["me"] == {"login": "admin"}
    assert Client(server.url, token=REVOKED).data("{ me { login } }")["me"] is None

    page = api.data(RECORDINGS, {"f": {"kind": None}})["recordings"]
    assert page["total"] == 2
    found = {i["id"]: i for i in page["items"]}
    for item in found.values():
        item["tags"].sort(key=lambda t: t["name"])
        item["startedAt"] = datetime.fromisoformat(item["startedAt"])
    assert found == {
        ids["call"]: {
            "id": ids["call"], "sn": "20210113_230102_269", "device": "192.0.2.50", "caller": "201",
            "callerOrg": "Old org" if version >= 4 else None, "callee": "269",
            "startedAt": datetime(2021, 1, 13, 15, 1, 2, tzinfo=UTC), "duration": 1, "score": 4, "playCount": 2,
            "kind": "CALL", "fileFormat": "WAV", "tags": [{"name": "Bad", "offset": None}, {"name": "Good", "offset": 2.0}],
        },
        ids["voicemail"]: {
            "id": ids["voicemail"], "sn": "20210113_230500_201", "device": "", "caller": "777", "callerOrg": None,
            "callee": "201", "startedAt": datetime(2021, 1, 13, 15, 5, tzinfo=UTC), "duration": 7, "score": None,
            "playCount": 0, "kind": "VOICEMAIL", "fileFormat": "MP3", "tags": [{"name": "Urgent", "offset": None}],
        },
    }
    # The live tallies and the tag index were rebuilt from the rows.
    assert api.data("{ recordings { total } }")["recordings"]["total"] == 1
    for tag, kind, expected in (("Good", "CALL", "call"), ("Urgent", "VOICEMAIL", "voicemail"), ("Urgent", "CALL", None)):
        tagged = api.data(RECORDINGS, {"f": {"tag": tag, "kind": kind}})["recordings"]["items"]
        assert [i["id"] for i in tagged] == ([ids[expected]] if expected else []), (tag, kind)
    assert api.data("query($id: ID!) { recording(id: $id) { id } }", {"id": ids["deleted"]})["recording"] is None
    assert api.http.get(f"/api/v1/recordings/{ids['call']}/audio", params={"format": "wav"}).content == PLAIN

    settings = api.data("{ settings { fileFormat diskUsageLimit } }")["settings"]
    assert settings == {"fileFormat": "WAV", "diskUsageLimit": 80}
    old_entries = [e for e in api.data("{ auditLog(pageSize: 200) { items { at account type details event params } } }")
                   ["auditLog"]["items"] if e["at"].startswith("2021-01-13")]
    assert old_entries == [{
        "at": old_entries[0]["at"], "account": "admin", "type": "TOKEN", "details": "created API token 'crm' for admin",
        "event": "token_created" if version >= 8 else "",
        "params": {"name": "crm", "login": "admin"} if version >= 8 else {},
    }]
    assert datetime.fromisoformat(old_entries[0]["at"]) == datetime(2021, 1, 13, 15, 1, 2, tzinfo=UTC)

    # The device's sealed secret still opens, and its next call counts in the tallies.
    assert api.data("{ devices { alias address } }")["devices"] == [{"alias": "old-gw", "address": "192.0.2.50"}]
    upload = api.http.post(
        "/api/v1/recordings", auth=("old-gw", "old-secret"), files={"audio": ("call.wav", PLAIN, "audio/wav")},
        data={"call_id": "after-upgrade", "caller": "201", "callee": "300", "started_at": "2024-05-01T09:30:00+00:00"},
    )
    assert upload.status_code == 201, upload.text
    assert api.data("{ recordings { total } }")["recordings"]["total"] == 2

    if version < 4:
        assert api.data("{ organizations { id } roles { id } }") == {"organizations": [], "roles": []}
        return
    assert api.data("{ organizations { id name prefix deviceId parentId } }")["organizations"] == [
        {"id": ids["org"], "name": "Old org", "prefix": "OLD", "deviceId": ids["device"], "parentId": None}]
    assert api.data("{ roles { id name departmentIds actions } }")["roles"] == [
        {"id": ids["role"], "name": "Old role", "departmentIds": [ids["org"]], "actions": ["EXPORT", "PLAY"]}]
    assert api.data("{ employees { id login extension phone organizationId roleIds } }")["employees"] == [
        {"id": ids["employee"], "login": "OLD201", "extension": "201", "phone": "13800000001",
         "organizationId": ids["org"], "roleIds": [ids["role"]]}]
    employee = Client(server.url)
    assert employee.login("OLD201", EMPLOYEE_PASSWORD)["__typename"] == "LoginSuccess"
    mine = employee.data(RECORDINGS, {"f": {"kind": None}})["recordings"]["items"]
    assert {i["id"] for i in mine} == {ids["call"], upload.json()["id"]}
    export = employee.http.get("/api/v1/recordings/export.xlsx", params={"ids": ids["call"]})
    assert export.status_code == 200
    assert len(list(openpyxl.load_workbook(io.BytesIO(export.content)).active.iter_rows())) == 2
