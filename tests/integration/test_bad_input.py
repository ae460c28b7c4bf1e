"""Bad input gets a clear error and stores nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.support.audio import tone_pcm, wav_bytes


def _count(appliance, caller):
    return appliance.api.data('query($c: String!) { recordings(filter: {caller: $c}) { total } }', {"c": caller})[
        "recordings"
    ]["total"]


def _files(appliance):
    return len(list((appliance.server.data_dir / "recordings").rglob("*.*")))


GOOD = wav_bytes(tone_pcm(1.0), 8000)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01garbage" * 500, "neither WAV"),
        (GOOD[:1000], "truncated"),  # the header promises 16000 bytes
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "fmt"),
        (b"\xff\xfb\x90\x00" + b"\x00" * 50, "truncated"),  # one MP3 frame header, cut short
        (b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x13\x37" * 300, "MP3"),
        (GOOD[:44] + b"\xff\xfb\x90\x00", "truncated"),
    ],
)
def test_undecodable_audio_is_400_and_nothing_is_stored(appliance, unique, audio, message):
    before = _files(appliance)
    r = appliance.upload(audio, caller=unique)
    assert r.status_code == 400
    assert message in r.json()["error"]
    assert _count(appliance, unique) == 0
    assert _files(appliance) == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"call_id": ""}, "call_id"),
        ({"started_at": ""}, "started_at"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": "2024-05-01T09:30:00"}, "started_at"),  # no offset
        ({"kind": "fax"}, "kind"),
        ({"direction": "sideways"}, "direction"),
        ({"caller": "1001; DROP TABLE"}, "caller"),
        ({"callee": "x" * 65}, "callee"),
    ],
)
def test_bad_fields_are_400_naming_the_field(appliance, unique, fields, field):
    r = appliance.upload(GOOD, **{"caller": unique, **fields})
    assert r.status_code == 400
    assert r.json()["field"] == field
    assert _count(appliance, unique) == 0


def test_missing_audio_part(appliance):
    r = appliance.device_http.post(
        "/api/v1/recordings",
        data={"call_id": "x", "started_at": "2024-05-01T09:30:00+00:00"},
        auth=(appliance.device["alias"], appliance.device["secret"]),
    )
    assert r.status_code == 400 and r.json()["field"] == "audio"


def test_broken_multipart_body(appliance):
    body = b"--XYZ\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n\r\nRIFF"  # never closed
    r = appliance.device_http.post(
        "/api/v1/recordings",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=XYZ"},
        auth=(appliance.device["alias"], appliance.device["secret"]),
    )
    assert r.status_code == 400
    r = appliance.device_http.post(
        "/api/v1/recordings",
        content=b"not multipart at all",
        headers={"Content-Type": "multipart/form-data"},
        auth=(appliance.device["alias"], appliance.device["secret"]),
    )
    assert r.status_code == 400


def test_wrong_or_missing_device_credentials_are_401(appliance, unique):
    bad = dict(appliance.device, secret="wrong-secret")
    r = appliance.upload(GOOD, caller=unique, device=bad)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    stranger = {"alias": "nobody", "secret": "whatever"}
    assert appliance.upload(GOOD, caller=unique, device=stranger).status_code == 401
    r = appliance.device_http.post("/api/v1/recordings", files={"audio": ("a.wav", GOOD)}, data={"call_id": "1"})
    assert r.status_code == 401
    # An integrator token is not a device credential.
    r = appliance.api.http.post("/api/v1/recordings", files={"audio": ("a.wav", GOOD)}, data={"call_id": "1"})
    assert r.status_code == 401
    assert _count(appliance, unique) == 0


def test_too_large_upload_is_413(tmp_path):
    from tests.support.server import ApplianceServer, create_device, prepare_admin

    server = ApplianceServer()
    server.env["RECORDER_MAX_UPLOAD_BYTES"] = "20000"
    server.start()
    try:
        admin, _ = prepare_admin(server)
        device = create_device(admin)
        import httpx

        r = httpx.post(
            server.url + "/api/v1/recordings",
            data={"call_id": "big", "started_at": "2024-05-01T09:30:00+00:00"},
            files={"audio": ("a.wav", wav_bytes(tone_pcm(3.0), 8000))},
            auth=(device["alias"], device["secret"]),
        )
        assert r.status_code == 413
    finally:
        server.stop()


def test_unauthenticated_http_paths_are_refused(appliance):
    import httpx

    anon = httpx.Client(base_url=appliance.server.url)
    for path in ("/api/v1/recordings/1/audio", "/api/v1/recordings/archive.zip?ids=1", "/api/v1/recordings/export.xlsx"):
        assert anon.get(path).status_code == 401
    bogus = httpx.Client(base_url=appliance.server.url, headers={"Authorization": "Bearer rec_forged"})
    assert bogus.get("/api/v1/recordings/1/audio").status_code == 401
    body = anon.post("/graphql", json={"query": "{ recordings { total } }"}).json()
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_unknown_ids_answer_as_missing(appliance):
    api = appliance.api
    for raw in ("0", "999999999", "abc", "-1", "1" * 40):
        assert api.data('query($id: ID!) { recording(id: $id) { id } }', {"id": raw})["recording"] is None
        r = api.data('mutation($id: ID!) { scoreRecording(id: $id, score: 1) { __typename ... on UserError { code } } }', {"id": raw})
        assert r["scoreRecording"] == {"__typename": "UserError", "code": "NOT_FOUND"}
    for raw in ("999999999", "abc", "1" * 40):
        assert api.http.get(f"/api/v1/recordings/{raw}/audio").status_code == 404


def test_too_deep_query_is_refused(appliance):
    ok = "query { recordings { items { tags { name } } } }"
    assert "errors" not in appliance.api.gql(ok)
    # GraphiQL's own introspection (12 levels) still works.
    graphiql = "query { __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }"
    assert "errors" not in appliance.api.gql(graphiql)
    bomb = "query { __schema { types { " + "fields { type { " * 8 + "name" + " } }" * 8 + " } } }"
    body = appliance.api.gql(bomb)
    assert body.get("data") is None
    assert "levels deep" in body["errors"][0]["message"]


def test_alias_bomb_is_refused(appliance):
    query = "query { " + " ".join(f"a{i}: recordings {{ total }}" for i in range(100)) + " }"
    body = appliance.api.gql(query)
    assert body["data"] is None
    assert "aliases" in body["errors"][0]["message"]


def test_token_bomb_is_refused(appliance):
    query = "query { me { " + "login " * 3000 + "} }"
    body = appliance.api.gql(query)
    assert "errors" in body and "token" in body["errors"][0]["message"].lower()


def test_settings_are_validated(appliance):
    admin = appliance.admin
    for change, field in (("sipPort: 80", "sipPort"), ("diskUsageLimit: 100", "diskUsageLimit"), ("diskUsageLimit: 0", "diskUsageLimit"), ("mixingGain: 0", "mixingGain"),
                          ("rtpPortMin: 30000, rtpPortMax: 29000", "rtpPortMax"), ("sipPort: 25000", "sipPort"),
                          ("rtpTimeoutSeconds: 1", "rtpTimeoutSeconds")):
        r = admin.data(f"mutation {{ updateSettings(input: {{{change}}}) {{ __typename ... on UserError {{ field message }} }} }}")
        assert r["updateSettings"]["__typename"] == "UserError"
        assert r["updateSettings"]["field"] == field
    kept = admin.data("{ settings { sipPort diskUsageLimit mixingGain fileFormat encryption } }")["settings"]
    assert kept == {"sipPort": 1311, "diskUsageLimit": 90, "mixingGain": 1, "fileFormat": "MP3", "encryption": True}


def test_device_input_is_validated(appliance):
    admin = appliance.admin
    cases = [
        ({"alias": "bad alias", "address": "192.0.2.1", "secret": "secret1", "mode": "PUSH"}, "alias"),
        ({"alias": f"d{uuid.uuid4().hex[:6]}", "address": "not an address!", "secret": "secret1", "mode": "PUSH"}, "address"),
        ({"alias": f"d{uuid.uuid4().hex[:6]}", "address": "192.0.2.1", "secret": "x", "mode": "PUSH"}, "secret"),
        ({"alias": f"d{uuid.uuid4().hex[:6]}", "address": "pbx.example.com", "secret": "secret1", "mode": "PULL"}, "pullProtocol"),
        ({"alias": f"d{uuid.uuid4().hex[:6]}", "address": "192.0.2.1", "secret": "secret1", "mode": "PULL", "pullProtocol": "FTP", "pullInterval": 11}, "pullInterval"),
        ({"alias": appliance.device["alias"], "address": "192.0.2.1", "secret": "secret1", "mode": "PUSH"}, None),
    ]
    for data, field in cases:
        r = admin.data(
            "mutation($i: DeviceInput!) { createDevice(input: $i) { __typename ... on UserError { code field } } }",
            {"i": data},
        )["createDevice"]
        assert r["__typename"] == "UserError", data
        assert r["field"] == field
        if field is None:
            assert r["code"] == "CONFLICT"
