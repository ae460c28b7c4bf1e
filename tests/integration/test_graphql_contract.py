"""The published contract: the exported SDL matches the code, and every example runs."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from tests.support.audio import tone_pcm, wav_bytes
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
    return {
        "$RECORDING_ID": r.json()["id"],
        "$CALLER": caller,
        "$ORG_ID": made["id"],
        "$PREFIX": "".join(random.choice(string.ascii_uppercase) for _ in range(4)),
    }


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: p.stem)
def test_example_operation_runs(appliance, recording, path):
    text = path.read_text(encoding="utf-8")
    match = re.search(r"^# variables: (.*)$", text, re.M)
    assert match, f"{path.name} needs a '# variables:' line"
    raw = match.group(1)
    for key, value in {**recording, "$PASSWORD": ADMIN_PASSWORD, "$UNIQUE": uuid.uuid4().hex[:10]}.items():
        raw = raw.replace(key, value)
    client = Client(appliance.server.url) if path.stem == "Login" else appliance.api
    body = client.gql(text, json.loads(raw))
    assert "errors" not in body, body
    data = body["data"]
    first = next(iter(data.values()))
    if isinstance(first, dict) and "__typename" in first:
        assert first["__typename"] not in ("UserError", "LoginError"), first
