"""Malformed input gets a 400 (or INVALID_INPUT) that says what is wrong (issue 11, #10)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.audio import tone_pcm, wav_bytes
from tests.support.server import ApplianceServer, Client, create_device, prepare_admin

EDGES = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def env() -> Iterator[dict]:
    server = ApplianceServer().start()
    try:
        admin, token = prepare_admin(server)
        device = create_device(admin)
        api = Client(server.url, token=token)
        up = httpx.post(
            server.url + "/api/v1/recordings",
            data={"call_id": uuid.uuid4().hex, "caller": "1001", "callee": "2002", "started_at": "2024-05-01T09:30:00+00:00"},
            files={"audio": ("a.wav", wav_bytes(tone_pcm(1.0), 8000))},
            auth=(device["alias"], device["secret"]),
        )
        assert up.status_code == 201, up.text
        yield {"server": server, "admin": admin, "api": api, "device": device, "recording": up.json()["id"]}
        # Whatever came before, the server is still answering.
        assert httpx.get(server.url + "/health").status_code == 200
        assert api.data("{ recordings { total } }")["recordings"]["total"] >= 1
    finally:
        server.stop()


def _post(env, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(env["server"].url + "/graphql", content=content, headers={**JSON, **headers}, timeout=30)


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"1", b"null", b"true", b'[{"query": "{ me { login } }"}]'])
def test_graphql_body_that_is_not_an_object_is_400(env, body):
    r = _post(env, body)
    assert r.status_code == 400, r.text
    assert "must be a JSON object" in r.text


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ me { login } }", "operationName": "\xff\xfe"}',
        b'{"query": "{ me { \xc0\xaf login } }"}',  # an overlong '/'
        b'\x80{"query": "{ me { login } }"}',
    ],
)
def test_graphql_body_that_is_not_utf8_is_400(env, body):
    r = _post(env, body)
    assert r.status_code == 400, r.text
    assert "not UTF-8" in r.text


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"query": "{ me { login } }", "variables": {"a": ' + b'{"b": ' * 50_000 + b"1" + b"}" * 50_001,
        b'{"query": "{ me { login } }", "variables": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    ],
)
def test_graphql_body_nested_too_deeply_is_400(env, body):
    r = _post(env, body)
    assert r.status_code == 400, r.text
    assert "nested too deeply" in r.text


def test_graphql_body_too_large_is_413_declared_or_streamed(env):
    big = b'{"query": "{ me { login } }", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    r = _post(env, big)
    assert r.status_code == 413 and "larger than" in r.text

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 64 * 1024):
            yield big[i : i + 64 * 1024]

    r = httpx.post(env["server"].url + "/graphql", content=chunks(), headers=JSON, timeout=30)
    assert r.status_code == 413 and "larger than" in r.text


@pytest.mark.parametrize("edge", EDGES)
def test_filter_times_at_the_edges_are_invalid_input(env, edge):
    api, admin = env["api"], env["admin"]
    cases = [
        (api, "query($t: DateTime) { recordings(filter: {startedFrom: $t}) { total } }", {"t": edge}),
        (api, f'{{ recordings(filter: {{startedTo: "{edge}"}}) {{ total }} }}', {}),
        (admin, "query($t: DateTime) { auditLog(filter: {atFrom: $t}) { total } }", {"t": edge}),
        (admin, f'{{ auditLog(filter: {{atTo: "{edge}"}}) {{ total }} }}', {}),
    ]
    for client, query, variables in cases:
        body = client.gql(query, variables)
        assert body["data"] is None, body
        error = body["errors"][0]
        assert error["extensions"]["code"] == "INVALID_INPUT", (query, error)
        assert "outside the range of times" in error["message"]
    # The same conditions on the HTTP exports.
    for path, param in (("/api/v1/recordings/export.xlsx", "startedFrom"), ("/api/v1/recordings/archive.zip", "startedTo"), ("/api/v1/audit/export.xlsx", "atFrom")):
        r = admin.http.get(path, params={param: edge})
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert "outside the range of times" in r.json()["error"]


@pytest.mark.parametrize("edge", [*EDGES, "1969-12-31T23:59:59Z", "9999-12-31T12:00:00+00:00"])
def test_upload_started_at_at_the_edges_is_400(env, edge):
    device = env["device"]
    r = httpx.post(
        env["server"].url + "/api/v1/recordings",
        data={"call_id": uuid.uuid4().hex, "caller": "1001", "callee": "2002", "started_at": edge},
        files={"audio": ("a.wav", wav_bytes(tone_pcm(0.5), 8000))},
        auth=(device["alias"], device["secret"]),
    )
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "started_at" and "is not between" in r.json()["error"]


@pytest.mark.parametrize(
    "header",
    ["bytes=" + "9" * 5000 + "-", "bytes=0-" + "1" * 5000, "bytes=-" + "7" * 5000, "bytes=" + "1" * 19 + "-"],
)
def test_range_with_huge_numbers_is_400(env, header):
    r = env["api"].http.get(f"/api/v1/recordings/{env['recording']}/audio", headers={"Range": header})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "Range" and "digits" in r.json()["error"]
    # A sane Range on the same recording still works.
    ok = env["api"].http.get(f"/api/v1/recordings/{env['recording']}/audio", headers={"Range": "bytes=0-9"})
    assert ok.status_code == 206 and len(ok.content) == 10
