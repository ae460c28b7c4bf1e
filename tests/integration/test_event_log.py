"""The event log across processes, on SQLite and PostgreSQL: a change made through the API
reaches a separate scheduler process within 2 s (its log level, seen in its next log lines);
a follower killed with SIGKILL resumes from its last id and misses nothing; deleting a
department, a device and a user leaves an entry saying who and what."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATABASES, on_database
from tests.support.people import PASSWORD, create_org, random_prefix
from tests.support.processes import stop_process
from tests.support.server import COMMAND, ApplianceServer, Client, create_device, prepare_admin

SEEN_WITHIN_S = 2.0
UPDATE_LOG_LEVEL = "mutation($l: Int!) { updateSettings(input: {logLevel: $l}) { __typename } }"


@pytest.fixture(scope="module", params=DATABASES)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[ApplianceServer, Client]]:
    # No scheduler inside: the test starts one as a process of its own.
    server = ApplianceServer(**on_database(request)).start()
    try:
        admin, _ = prepare_admin(server)
        yield server, admin
    finally:
        server.stop()


def _wait_for(path: Path, pattern: str, deadline_s: float, start: int = 0) -> re.Match[str]:
    """The first match of `pattern` in the file past offset `start`, waiting for it."""
    deadline = time.monotonic() + deadline_s
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        found = re.compile(pattern, re.M).search(text, start)
        if found:
            return found
        assert time.monotonic() < deadline, f"no {pattern!r} in {path.name} within {deadline_s} s:\n{text[-3000:]}"
        time.sleep(0.05)


def _set_log_level(admin: Client, level: int) -> None:
    assert admin.data(UPDATE_LOG_LEVEL, {"l": level})["updateSettings"]["__typename"] == "Settings"


def _events(server: ApplianceServer, after: int = 0) -> list[dict]:
    out = server.cli("admin", "events", "--json", "--after", str(after)).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_a_log_level_change_through_the_api_shows_in_a_separate_schedulers_next_lines(server):
    server, admin = server
    scheduler = server.beside("scheduler")
    log = server.root / "scheduler.log"
    try:
        _wait_for(log, r"following the event log after event \d+", 60)
        start = time.monotonic()
        _set_log_level(admin, 5)
        # The change's own entry, logged at DEBUG once the level is applied.
        change = _wait_for(log, r"^.* DEBUG appliance\.event_follower: event (\d+) settings\.changed by admin in api.*$", 5)
        assert time.monotonic() - start < SEEN_WITHIN_S
        assert "INFO appliance.event_follower: log level 5 applied" in log.read_text()
        # The API's own process follows too.
        _wait_for(server.root / "server.log", rf"DEBUG appliance\.event_follower: event {change[1]} settings\.changed", 5)

        # Errors only: the entries that come now are not logged…
        _set_log_level(admin, 1)
        device = create_device(admin)
        start = time.monotonic()
        _set_log_level(admin, 5)
        # …until the level is back up: that change is seen and logged in time again.
        again = _wait_for(
            log, r"^.* DEBUG appliance\.event_follower: event (\d+) settings\.changed.*$", 5, start=change.end()
        )
        assert time.monotonic() - start < SEEN_WITHIN_S
        between = [line for line in log.read_text()[change.end() : again.start()].splitlines() if line.strip()]
        assert between == [between[-1]] and between[-1].endswith(f"INFO appliance.event_follower: "
                                                                  f"log level 5 applied (event {again[1]} by admin)")
        created = [e for e in _events(server, int(change[1])) if e["kind"] == "device.created"]
        assert [e["params"]["alias"] for e in created] == [device["alias"]]  # it happened, unlogged
    finally:
        _set_log_level(admin, 3)
        stop_process(scheduler)


def _follower(server: ApplianceServer, reader: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*COMMAND, "admin", "events", "--follow", "--reader", reader, "--json"],
        env=server.env,
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _printed(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]


def _wait_printed(out: Path, alias: str, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while not any(e["params"].get("alias") == alias for e in _printed(out)):
        assert time.monotonic() < deadline, f"the follower never printed {alias}: {out.read_text()[-2000:]}"
        time.sleep(0.05)


def test_a_follower_killed_with_sigkill_resumes_from_its_last_id_and_misses_nothing(server):
    server, admin = server
    reader = f"test-{uuid.uuid4().hex[:8]}"
    first_out, second_out = server.root / f"{reader}-1.out", server.root / f"{reader}-2.out"
    follower = _follower(server, reader, first_out)
    try:
        before = [create_device(admin)["alias"] for _ in range(5)]
        _wait_printed(first_out, before[-1])
        # More while it is still reading, then gone without a chance to save anything.
        during = [create_device(admin)["alias"] for _ in range(3)]
        follower.kill()
        follower.wait()
        after = [create_device(admin)["alias"] for _ in range(5)]

        follower = _follower(server, reader, second_out)
        _wait_printed(second_out, after[-1])
    finally:
        stop_process(follower)
    first, second = _printed(first_out), _printed(second_out)
    assert first and second
    # Resumed where it stopped (at worst the batch it was handling comes again)…
    assert second[0]["id"] > first[0]["id"] and second[0]["id"] <= first[-1]["id"] + 1
    # …and every entry the log holds was printed, in order, each new one exactly once.
    logged = [e["id"] for e in _events(server)]
    printed = [e["id"] for e in first] + [e["id"] for e in second]
    assert set(printed) == set(logged)
    assert [e["id"] for e in second] == sorted({e["id"] for e in second})
    aliases = [e["params"].get("alias") for e in first + second if e["kind"] == "device.created"]
    assert set(before + during + after) <= set(aliases)


def test_deleting_a_department_a_device_and_a_user_leaves_entries_saying_who_and_what(server):
    server, admin = server
    last = max([e["id"] for e in _events(server)], default=0)
    unique = uuid.uuid4().hex[:8]
    prefix = random_prefix()
    org = create_org(admin, f"Dept-{unique}", prefix)
    device = create_device(admin)
    made = admin.data(
        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename ... on Employee { id login } } }",
        {"i": {"extension": "4711", "name": f"Leaver {unique}", "password": PASSWORD, "phone": "",
               "organizationId": org, "roleIds": []}},
    )["createEmployee"]
    for mutation, id_ in (("deleteEmployee", made["id"]), ("deleteOrganization", org), ("deleteDevice", device["id"])):
        gone = admin.data(f"mutation($id: ID!) {{ {mutation}(id: $id) {{ __typename }} }}", {"id": id_})
        assert gone[mutation]["__typename"] == "DeleteResult", gone

    entries = {e["kind"]: e for e in _events(server, last) if e["kind"].endswith(".deleted")}
    assert set(entries) == {"employee.deleted", "organization.deleted", "device.deleted"}
    assert all(e["actor"] == "admin" and e["process"].startswith("api") for e in entries.values())
    employee = entries["employee.deleted"]["params"]
    assert (employee["id"], employee["login"], employee["name"]) == (int(made["id"]), made["login"], f"Leaver {unique}")
    assert employee["extension"] == "4711" and employee["organization_id"] == int(org)
    assert entries["organization.deleted"]["params"] == {"id": int(org), "name": f"Dept-{unique}", "prefix": prefix}
    assert entries["device.deleted"]["params"] == {"id": int(device["id"]), "alias": device["alias"], "address": "192.0.2.10"}
    # In the order they were made, after their creation.
    kinds = [e["kind"] for e in _events(server, last)]
    assert kinds.index("employee.created") < kinds.index("employee.deleted") < kinds.index("organization.deleted")
