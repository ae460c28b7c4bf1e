"""Primary and standby (主备) through two real appliances on 127.0.0.1, each with its own
data directory and database (SQLite for one pair, PostgreSQL for the other): pairing with
a shared secret, then recordings (the same encrypted bytes, rows, scores, tags), deletions,
settings, the organisation, employees and tokens reaching the standby within a period."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Appliance, on_database
from tests.support.audio import tone_pcm, wav_bytes
from tests.support.people import PASSWORD as EMPLOYEE_PASSWORD
from tests.support.people import create_employee, create_org, random_prefix
from tests.support.server import ADMIN_PASSWORD, ApplianceServer, Client

SECRET = "a shared pairing secret 2026"
PERIOD = 2
STATUS = """query { haStatus { role peer peerReachable lastSyncAt lagRecordings lagSeconds
  paired peerRole lastError lastProblem pairingSecretSet fingerprint epoch vipState } }"""
UPDATE = """mutation($i: HaSettingsInput!) { updateHaSettings(input: $i) {
  __typename ... on HaStatus { role peer paired pairingSecretSet }
  ... on UserError { message field rule params } } }"""
RECORDINGS = """query { recordings(pageSize: 100, filter: {}) { total items {
  id sn caller callee startedAt duration score tags { name offset } } } }"""


def wait_for(what: str, check: Callable[[], Any], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as exc:  # not yet
            last = exc
        else:
            if last:
                return last
        time.sleep(0.3)
    raise AssertionError(f"{what}: still {last!r} after {seconds} s")


def ha(app: Appliance, **settings: Any) -> dict[str, Any]:
    found = app.admin.data(UPDATE, {"i": settings})["updateHaSettings"]
    assert found["__typename"] == "HaStatus", found
    return found


def status(client: Client) -> dict[str, Any]:
    return client.data(STATUS)["haStatus"]


def pair_address(app: Appliance) -> str:
    return f"127.0.0.1:{app.server.ha_port}"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Appliance, Appliance]]:
    servers = [ApplianceServer(**on_database(request)).start() for _ in range(2)]
    try:
        primary, standby = (Appliance(s) for s in servers)
        # A recording made before there was a standby: it arrives with the full copy.
        before = primary.upload(wav_bytes(tone_pcm(1.5, freq=250), 8000), caller="13900000000", callee="2002")
        assert before.status_code == 201, before.text
        ha(standby, role="STANDBY", peerAddress=pair_address(primary), pairingSecret=SECRET,
           periodSeconds=PERIOD)  # fmt: skip
        ha(primary, role="PRIMARY", peerAddress=pair_address(standby), pairingSecret=SECRET,
           periodSeconds=PERIOD)  # fmt: skip
        wait_for("the primary paired", lambda: status(primary.admin)["paired"])
        # The first round brings the primary's users: the standby's own sessions end then.
        wait_for("the first sync", lambda: status(primary.admin)["lastSyncAt"])
        yield primary, standby
    finally:
        for s in servers:
            s.stop()


def signed_in(server: ApplianceServer) -> Client:
    """The administrator of either side (a standby's is the primary's, once synced)."""
    client = Client(server.url)
    client.login("admin", ADMIN_PASSWORD)
    return client


def callees(client: Client) -> list[str]:
    """The called numbers of every recording the client sees, in order."""
    found = client.data("query { recordings(pageSize: 200, filter: {}) { items { callee } } }")
    return sorted(r["callee"] for r in found["recordings"]["items"])


def test_pairing_exchanges_certificates_and_forgets_the_secret(pair):
    primary, standby = pair
    p = status(primary.admin)
    s = wait_for("the standby paired", lambda: (lambda s: s if s["paired"] else None)(status(signed_in(standby.server))))
    assert p["role"] == "PRIMARY" and s["role"] == "STANDBY"
    assert p["pairingSecretSet"] is False and s["pairingSecretSet"] is False
    assert p["fingerprint"] and s["fingerprint"] and p["fingerprint"] != s["fingerprint"]
    wait_for("each hears the other", lambda: status(primary.admin)["peerReachable"])
    assert status(primary.admin)["peerRole"] == "STANDBY"


def test_recordings_deletions_settings_and_employees_reach_the_standby(pair):
    synced_within_a_period(*pair)


def synced_within_a_period(primary: Appliance, standby: Appliance) -> None:
    """Recordings (the same encrypted bytes, rows, scores, tags), a deletion, a setting, a
    department, an employee and the primary's token reach the standby (also run between
    network namespaces, test_ha_netns.py)."""
    audio = [wav_bytes(tone_pcm(1.0 + i, freq=300 + 150 * i), 8000) for i in range(3)]
    ids = []
    for n, a in enumerate(audio):
        r = primary.upload(a, caller=f"1380013800{n}", callee="2002")
        assert r.status_code == 201, r.text
        ids.append(str(r.json()["id"]))
    primary.admin.data("mutation($id: ID!) { scoreRecording(id: $id, score: 77) { __typename } }", {"id": ids[0]})
    primary.admin.data(
        'mutation($id: ID!) { tagRecording(id: $id, name: "complaint", offset: 0.5) { __typename } }', {"id": ids[0]}
    )
    prefix = random_prefix()
    org = create_org(primary.admin, "Sales " + prefix, prefix, primary.device["id"])
    create_employee(primary.admin, primary.server.url, "2002", org, prefix, [])
    changed = primary.admin.data("mutation { updateSettings(input: {logRetentionDays: 123}) { __typename } }")
    assert changed["updateSettings"]["__typename"] == "Settings", changed

    mine = primary.admin.data(RECORDINGS)["recordings"]
    theirs_client = signed_in(standby.server)

    def arrived() -> dict[str, Any] | None:
        got = theirs_client.data(RECORDINGS)["recordings"]
        return got if got["total"] == mine["total"] and sorted(map(comparable, got["items"])) == sorted(map(comparable, mine["items"])) else None

    theirs = wait_for("the recordings on the standby", arrived, PERIOD * 5)
    by_sn = {r["sn"]: r for r in theirs["items"]}
    for r in mine["items"]:
        here = primary.admin.http.get(f"/api/v1/recordings/{r['id']}/audio")
        there = theirs_client.http.get(f"/api/v1/recordings/{by_sn[r['sn']]['id']}/audio")
        assert here.status_code == there.status_code == 200
        assert here.content == there.content and len(here.content) > 1000
    # The stored files are the primary's bytes as they are: encrypted, never re-encrypted.
    files = sorted(p.name for p in (primary.server.data_dir / "recordings").rglob("*.enc"))
    assert files and files == sorted(p.name for p in (standby.server.data_dir / "recordings").rglob("*.enc"))
    for path in (primary.server.data_dir / "recordings").rglob("*.enc"):
        copy = next((standby.server.data_dir / "recordings").rglob(path.name))
        assert copy.read_bytes() == path.read_bytes()

    # Settings and an employee arrived: the employee signs in on the standby.
    wait_for(
        "the settings on the standby",
        lambda: theirs_client.data("query { settings { logRetentionDays } }")["settings"]["logRetentionDays"] == 123,
        PERIOD * 5,
    )
    employee = Client(standby.server.url)
    signed = employee.login(prefix + "2002", EMPLOYEE_PASSWORD)
    assert signed["user"]["login"] == prefix + "2002"
    # The primary's integrator token works on the standby (tokens are configuration too).
    assert Client(standby.server.url, token=primary.token).data("query { me { login } }")["me"]["login"] == "admin"

    # A deletion on the primary removes the recording and its file on the standby.
    gone = next(r for r in mine["items"] if r["id"] == ids[1])
    deleted = primary.admin.data("mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { __typename } }", {"ids": [ids[1]]})
    assert "errors" not in deleted
    wait_for(
        "the deletion on the standby",
        lambda: gone["sn"] not in {r["sn"] for r in theirs_client.data(RECORDINGS)["recordings"]["items"]},
        PERIOD * 5,
    )
    assert len(list((standby.server.data_dir / "recordings").rglob("*.enc"))) == len(files) - 1
    wait_for("no lag left", lambda: status(primary.admin)["lagRecordings"] == 0 and status(primary.admin)["lastSyncAt"])


def comparable(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["sn"], r["caller"], r["callee"], r["startedAt"], r["duration"], r["score"],
            tuple((t["name"], t["offset"]) for t in r["tags"]))  # fmt: skip


def test_a_wrong_pairing_secret_pairs_nothing():
    servers = [ApplianceServer().start() for _ in range(2)]
    try:
        primary, standby = (Appliance(s) for s in servers)
        ha(standby, role="STANDBY", peerAddress=pair_address(primary), pairingSecret=SECRET)
        ha(primary, role="PRIMARY", peerAddress=pair_address(standby), pairingSecret=SECRET + " not")
        r = primary.upload(wav_bytes(tone_pcm(1.0), 8000))
        assert r.status_code == 201
        failed = wait_for("the refusal", lambda: (lambda s: s if "secret" in s["lastError"] else None)(status(primary.admin)))
        assert failed["paired"] is False and failed["pairingSecretSet"] is True
        assert failed["lastProblem"] == "secret_differs"  # the console words it
        time.sleep(3)
        assert status(standby.admin)["paired"] is False
        assert standby.admin.data(RECORDINGS)["recordings"]["total"] == 0
        assert not list((standby.server.data_dir / "recordings").rglob("*.enc"))
    finally:
        for s in servers:
            s.stop()


def test_settings_are_refused_at_their_field(pair):
    primary, _ = pair
    cases = [
        ({"periodSeconds": 0}, "periodSeconds", "out_of_range"),
        ({"takeoverSeconds": 1}, "takeoverSeconds", "out_of_range"),
        ({"peerAddress": "not an address"}, "peerAddress", "invalid_format"),
        ({"witness": "gw:99999"}, "witness", "invalid_format"),
        ({"pairingSecret": "short"}, "pairingSecret", "too_short"),
    ]
    for given, field, rule in cases:
        found = primary.admin.data(UPDATE, {"i": given})["updateHaSettings"]
        assert (found["__typename"], found.get("field"), found.get("rule")) == ("UserError", field, rule), found


def test_departments_that_swap_names_reach_the_standby(pair):
    """A rename into another department's old name (two unique values crossing) must not
    stop the configuration from applying, nor anything after it."""
    primary, standby = pair
    first, second = random_prefix(), random_prefix()
    a = create_org(primary.admin, "Sales " + first, first)
    b = create_org(primary.admin, "Support " + second, second)
    rename = """mutation($id: ID!, $i: OrganizationInput!) { updateOrganization(id: $id, input: $i) {
      __typename ... on UserError { message } } }"""
    assert primary.admin.data(rename, {"id": a, "i": {"name": "Sales EU " + first, "prefix": first}})["updateOrganization"]["__typename"] != "UserError"
    assert primary.admin.data(rename, {"id": b, "i": {"name": "Sales " + first, "prefix": second}})["updateOrganization"]["__typename"] != "UserError"
    theirs = signed_in(standby.server)

    def names() -> dict[str, str]:
        found = theirs.data("{ organizations { id name } }")["organizations"]
        return {o["id"]: o["name"] for o in found}

    wait_for("both renames on the standby", lambda: names().get(a) == "Sales EU " + first
             and names().get(b) == "Sales " + first, PERIOD * 5)  # fmt: skip
    later = primary.upload(wav_bytes(tone_pcm(1.0, freq=700), 8000), caller="13911111111", callee="2002")
    assert later.status_code == 201
    wait_for("and what came after", lambda: "13911111111" in {
        r["caller"] for r in theirs.data(RECORDINGS)["recordings"]["items"]}, PERIOD * 5)  # fmt: skip
