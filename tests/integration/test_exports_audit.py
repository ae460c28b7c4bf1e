"""Zip downloads, Excel exports, play counting and the audit trail."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import openpyxl

from tests.support.audio import best_correlation, pcm_of_wav, tone_pcm, wav_bytes
from tests.support.server import create_device

AUDIT = """query($f: AuditFilter) { auditLog(filter: $f, pageSize: 200) { total
  items { account name type details ip at event params } } }"""


def _upload(appliance, **fields):
    r = appliance.upload(wav_bytes(tone_pcm(1.0), 8000), **fields)
    assert r.status_code == 201, r.text
    return r.json()


def test_zip_entries_are_named_caller_callee_time_and_unique(appliance, unique):
    when = "2021-01-13T15:01:02+00:00"
    a = _upload(appliance, caller=unique, callee="269", started_at=when)
    b = _upload(appliance, caller=unique, callee="269", started_at=when)
    c = _upload(appliance, caller=unique, callee="300", started_at="2021-01-13T13:43:43+00:00")
    r = appliance.api.http.get("/api/v1/recordings/archive.zip", params={"ids": f"{a['id']},{b['id']},{c['id']}"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
        first = zf.read(names[0])
    local = appliance.server.local
    at_a, at_c = local(when, "%Y%m%d%H%M%S"), local("2021-01-13T13:43:43+00:00", "%Y%m%d%H%M%S")
    assert sorted(names) == sorted([f"{unique}-269-{at_a}.mp3", f"{unique}-269-{at_a}(2).mp3", f"{unique}-300-{at_c}.mp3"])
    full = appliance.api.http.get(f"/api/v1/recordings/{a['id']}/audio").content
    assert first == full


def test_zip_of_everything_a_filter_matches_in_wav(appliance, unique):
    for _ in range(3):
        _upload(appliance, caller=unique)
    r = appliance.api.http.get(
        "/api/v1/recordings/archive.zip", params={"caller": unique, "format": "wav"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert len(zf.namelist()) == 3
        assert all(n.endswith(".wav") for n in zf.namelist())
        for name in zf.namelist():
            got, rate = pcm_of_wav(zf.read(name))
            ref = np.frombuffer(tone_pcm(1.0), dtype="<i2").astype(np.float64)
            assert rate == 8000 and abs(len(got) - len(ref)) < 0.2 * 8000
            assert best_correlation(ref, got, max_lag=2000) > 0.9


def test_zip_of_nothing_is_404_and_bad_ids_400(appliance, unique):
    assert appliance.api.http.get("/api/v1/recordings/archive.zip", params={"caller": unique}).status_code == 404
    assert appliance.api.http.get("/api/v1/recordings/archive.zip", params={"ids": "1,abc"}).status_code == 400


def test_xlsx_export_has_the_list_columns_and_neutralised_cells(appliance, unique):
    rec = _upload(appliance, caller=unique, callee="+8613800000000", started_at="2022-02-02T10:20:30+00:00")
    appliance.api.data(
        'mutation($id: ID!) { tagRecording(id: $id, name: "=HYPERLINK(1)", offset: 0.5) { __typename } }',
        {"id": rec["id"]},
    )
    appliance.api.data('mutation($id: ID!) { scoreRecording(id: $id, score: 8) { __typename } }', {"id": rec["id"]})
    r = appliance.api.http.get("/api/v1/recordings/export.xlsx", params={"caller": unique})
    assert r.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0] == ("设备", "主叫", "主叫归属", "被叫", "被叫归属", "时间", "时长", "评分", "标签", "播放次数", "录音SN")
    assert len(rows) == 2
    device, caller, _, callee, _, when, duration, score, tags, plays, sn = rows[1]
    assert device == "192.0.2.10"
    assert caller == unique
    assert callee == "+8613800000000"  # a phone number is left as it is
    # A date-time cell in the appliance's zone (Excel has no zones).
    assert when.strftime("%Y/%m/%d %H:%M:%S") == appliance.server.local("2022-02-02T10:20:30+00:00", "%Y/%m/%d %H:%M:%S")
    assert duration == "00:00:01"
    assert score == 8
    assert tags == "'=HYPERLINK(1)"  # formula neutralised
    assert plays == 0
    assert sn == rec["sn"]
    english = appliance.api.http.get("/api/v1/recordings/export.xlsx", params={"caller": unique, "lang": "en"})
    header = next(openpyxl.load_workbook(io.BytesIO(english.content)).active.iter_rows(values_only=True))
    assert header[:2] == ("Device", "Caller")


def test_play_is_counted_once_per_listening_not_per_range(appliance, unique):
    rec = _upload(appliance, caller=unique)
    url = f"/api/v1/recordings/{rec['id']}/audio"
    api = appliance.api
    api.http.get(url, headers={"Range": "bytes=0-"})
    for start in (100, 500, 1000):
        api.http.get(url, headers={"Range": f"bytes={start}-"})
    api.http.get(url)  # the browser's second request within the same listening
    count = api.data('query($id: ID!) { recording(id: $id) { playCount } }', {"id": rec["id"]})
    assert count["recording"]["playCount"] == 1
    # A HEAD request (a player probing the size) is no play either.
    api.http.head(url)
    count = api.data('query($id: ID!) { recording(id: $id) { playCount } }', {"id": rec["id"]})
    assert count["recording"]["playCount"] == 1


def test_audit_trail_records_each_operation(appliance, unique):
    rec = _upload(appliance, caller=unique)
    api, admin = appliance.api, appliance.admin
    api.http.get(f"/api/v1/recordings/{rec['id']}/audio")
    api.data('mutation($id: ID!) { scoreRecording(id: $id, score: 5) { __typename } }', {"id": rec["id"]})
    api.data('mutation($id: ID!) { tagRecording(id: $id, name: "audit-check", offset: 0.2) { __typename } }', {"id": rec["id"]})
    api.http.get("/api/v1/recordings/archive.zip", params={"ids": rec["id"]})
    api.http.get("/api/v1/recordings/export.xlsx", params={"ids": rec["id"]})
    admin.data('mutation { updateSettings(input: {logLevel: 4}) { __typename } }')
    admin.data('mutation { updateSettings(input: {logLevel: 3}) { __typename } }')
    api.data('mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { deleted } }', {"ids": [rec["id"]]})
    entries = admin.data(AUDIT, {"f": {"account": "admin"}})["auditLog"]["items"]
    sn = rec["sn"]
    def has(type_, text):
        return any(e["type"] == type_ and text in e["details"] for e in entries)
    assert has("PLAY", sn)
    assert has("SCORE", f"{sn}: 5")
    assert has("TAG", f"{sn}: audit-check at 0.2 s")
    assert has("DOWNLOAD", sn)
    assert has("EXPORT", "exported 1 recordings")
    assert has("SETTINGS", "log_level: 3 -> 4")
    assert has("DELETE", sn)
    assert has("LOGIN", "logged in")
    assert all(e["ip"] == "127.0.0.1" for e in entries)
    # The same, as an event with its values, for the console to say in its language.
    scored = next(e for e in entries if e["type"] == "SCORE" and sn in e["details"])
    assert (scored["event"], scored["params"]) == ("scored", {"sn": sn, "score": 5})
    tagged = next(e for e in entries if e["type"] == "TAG" and sn in e["details"])
    assert (tagged["event"], tagged["params"]) == ("tagged_at", {"sn": sn, "tag": "audit-check", "offset": "0.2"})
    uploads = admin.data(AUDIT, {"f": {"type": "UPLOAD", "account": appliance.device["alias"]}})["auditLog"]
    assert any(sn in e["details"] for e in uploads["items"])


def test_audit_filters_select_exactly_by_account_address_and_time(appliance):
    """Uploads by a device of its own from 127.0.0.2, .3, .2: each filter keeps exactly its entries."""
    device = create_device(appliance.admin)
    sns = []
    for n, source in enumerate(("127.0.0.2", "127.0.0.3", "127.0.0.2")):
        with httpx.Client(base_url=appliance.server.url, transport=httpx.HTTPTransport(local_address=source)) as http:
            r = http.post(
                "/api/v1/recordings",
                data={"call_id": uuid.uuid4().hex, "caller": "1001", "callee": f"300{n}",
                      "started_at": "2024-05-01T09:30:00+08:00"},
                files={"audio": ("a.wav", wav_bytes(tone_pcm(0.5), 8000), "application/octet-stream")},
                auth=(device["alias"], device["secret"]),
            )
        assert r.status_code == 201, r.text
        sns.append(r.json()["sn"])

    def sns_of(**f) -> list[str]:
        items = appliance.admin.data(AUDIT, {"f": {"account": device["alias"], **f}})["auditLog"]["items"]
        return [next(sn for sn in sns if sn in e["details"]) for e in reversed(items)]

    entries = list(reversed(appliance.admin.data(AUDIT, {"f": {"account": device["alias"]}})["auditLog"]["items"]))
    assert [(e["type"], e["ip"]) for e in entries] == [
        ("UPLOAD", "127.0.0.2"), ("UPLOAD", "127.0.0.3"), ("UPLOAD", "127.0.0.2")
    ]
    at = [datetime.fromisoformat(e["at"]) for e in entries]
    assert at[0] < at[1] < at[2]
    assert sns_of() == sns
    assert sns_of(ip="127.0.0.2") == [sns[0], sns[2]]
    assert sns_of(ip="127.0.0.3") == [sns[1]]
    only_third = appliance.admin.data(AUDIT, {"f": {"ip": "127.0.0.3", "type": "UPLOAD"}})["auditLog"]["items"]
    assert [e["details"] for e in only_third if e["account"] == device["alias"]] == [entries[1]["details"]]
    assert all(e["ip"] == "127.0.0.3" for e in only_third)
    # Bounds are inclusive, and the same instant written in another zone is the same bound.
    shanghai = at[1].astimezone(ZoneInfo("Asia/Shanghai")).isoformat()
    assert sns_of(atFrom=at[1].isoformat()) == sns[1:]
    assert sns_of(atFrom=shanghai) == sns[1:]
    assert sns_of(atTo=at[1].isoformat()) == sns[:2]
    assert sns_of(atFrom=at[1].isoformat(), atTo=shanghai) == [sns[1]]
    assert sns_of(atFrom=(at[2] + timedelta(microseconds=1)).isoformat()) == []
    assert sns_of(type="LOGIN") == []
    assert appliance.admin.data(AUDIT, {"f": {"account": "nobody-" + device["alias"]}})["auditLog"]["total"] == 0
    # The export applies the same filters, every one of them.
    r = appliance.admin.http.get(
        "/api/v1/audit/export.xlsx",
        params={"account": device["alias"], "ip": "127.0.0.2", "type": "UPLOAD", "atFrom": at[0].isoformat(),
                "atTo": shanghai},
    )
    assert r.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))[1:]
    assert [(row[1], row[3], row[5]) for row in rows] == [(device["alias"], "录音入库", "127.0.0.2")]  # the type in the default language
    assert sns[0] in rows[0][4]
    # The time column is the appliance's local time of the entry.
    local = at[0].astimezone(appliance.server.zone).strftime("%Y-%m-%d %H:%M:%S")
    assert str(rows[0][0]).replace("/", "-")[:19] == local


def test_audit_export(appliance):
    r = appliance.admin.http.get("/api/v1/audit/export.xlsx", params={"type": "LOGIN"})
    assert r.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[0] == ("操作时间", "账号", "姓名", "操作类型", "操作内容", "来源 IP")  # the console's audit columns
    assert len(rows) >= 2 and all(row[3] == "登录" for row in rows[1:])


def test_deleted_recordings_disappear_everywhere(appliance, unique):
    rec = _upload(appliance, caller=unique)
    files_before = set((appliance.server.data_dir / "recordings").rglob("*.enc"))
    out = appliance.api.data('mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { deleted } }', {"ids": [rec["id"], "999999999"]})
    assert out["deleteRecordings"]["deleted"] == 1
    assert appliance.api.data('query($id: ID!) { recording(id: $id) { id } }', {"id": rec["id"]})["recording"] is None
    assert appliance.api.http.get(f"/api/v1/recordings/{rec['id']}/audio").status_code == 404
    total = appliance.api.data('query($c: String!) { recordings(filter: {caller: $c}) { total } }', {"c": unique})
    assert total["recordings"]["total"] == 0
    assert len(set((appliance.server.data_dir / "recordings").rglob("*.enc"))) == len(files_before) - 1


def test_tag_suggestions_come_from_earlier_tags(appliance, unique):
    first = _upload(appliance, caller=unique)
    second = _upload(appliance, caller=unique)
    tag = 'mutation($id: ID!, $n: String!, $o: Float) { tagRecording(id: $id, name: $n, offset: $o) { __typename } }'
    for rec, name in ((first, "b"), (first, "a"), (second, "a")):
        appliance.api.data(tag, {"id": rec["id"], "n": f"sugg{unique}-{name}", "o": 0.1})
    got = appliance.api.data('query($p: String!) { tagSuggestions(prefix: $p) }', {"p": f"sugg{unique}"})
    assert got["tagSuggestions"] == [f"sugg{unique}-a", f"sugg{unique}-b"]  # most used first
    # Setting the same tag again moves it rather than adding a second one.
    appliance.api.data(tag, {"id": first["id"], "n": f"sugg{unique}-a", "o": 0.7})
    shown = appliance.api.data('query($id: ID!) { recording(id: $id) { tags { name offset } } }', {"id": first["id"]})
    assert shown["recording"]["tags"] == [
        {"name": f"sugg{unique}-b", "offset": 0.1},
        {"name": f"sugg{unique}-a", "offset": 0.7},
    ]
    removed = appliance.api.data(
        'mutation($id: ID!, $n: String!) { untagRecording(id: $id, name: $n) { ... on Recording { tags { name } } } }',
        {"id": first["id"], "n": f"sugg{unique}-a"},
    )
    assert removed["untagRecording"]["tags"] == [{"name": f"sugg{unique}-b"}]
    by_tag = appliance.api.data('query($t: String!) { recordings(filter: {tag: $t}) { total items { id } } }', {"t": f"sugg{unique}-a"})
    assert by_tag["recordings"] == {"total": 1, "items": [{"id": second["id"]}]}
    bad = appliance.api.data('mutation($id: ID!) { tagRecording(id: $id, name: "x", offset: 99999) { __typename ... on UserError { field } } }', {"id": first["id"]})
    assert bad["tagRecording"] == {"__typename": "UserError", "field": "offset"}
