#!/usr/bin/env python3
"""How fast the appliance refuses what the security tests make it refuse, and how promptly
it answers others meanwhile: the numbers the tests no longer hold as thresholds.

Starts the real appliance (`python -m appliance all`, SQLite) on 127.0.0.1 and prints:
- each fragment fan-out shape of tests/support/graphql_fanout.py at 10 to 60 levels:
  the fastest of 3 refusals and the slowest /health right after (target: 50 ms);
- a document repeating one field with different arguments (target: 300 ms);
- sign-in with a wrong password, known and unknown account, alternated: medians of 7
  (target: a ratio near 1, so timing does not tell which accounts exist);
- sign-in, search and upload while a 3,000-row employee import runs: median and worst.

    python benchmarks/refusals.py
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import machine  # noqa: E402

from tests.support.audio import speech_wav  # noqa: E402
from tests.support.graphql_fanout import LEVELS, SHAPES, chain  # noqa: E402
from tests.support.server import (  # noqa: E402
    ADMIN_PASSWORD,
    ApplianceServer,
    Client,
    create_device,
    prepare_admin,
)

LOGIN = 'mutation($l: String!, $p: String!) { login(login: $l, password: $p) { __typename } }'
IMPORT_ROWS = 3000


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def refusal_ms(http: httpx.Client, query: str) -> tuple[float, float]:
    best, health = float("inf"), 0.0
    for _ in range(3):
        best = min(best, timed(lambda: http.post("/graphql", json={"query": query})))
        health = max(health, timed(lambda: http.get("/health")))
    return best * 1000, health * 1000


def from_address(url: str, source: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=60, transport=httpx.HTTPTransport(local_address=source))


def main() -> None:
    print(f"machine: {machine()}")
    server = ApplianceServer().start()
    try:
        admin, _ = prepare_admin(server)
        http = httpx.Client(base_url=server.url, timeout=60)
        print("\n| document | levels | refused in (ms, best of 3) | /health after (ms, worst) |")
        print("|---|---:|---:|---:|")
        for shape, body in SHAPES.items():
            for levels in LEVELS:
                refused, health = refusal_ms(http, chain(levels, body))
                print(f"| {shape} | {levels} | {refused:.1f} | {health:.1f} |")
        same_field = "query { " + " ".join(f"tagSuggestions(limit: {i})" for i in range(320)) + " }"
        refused, health = refusal_ms(http, same_field)
        print(f"| one field, 320 argument sets | – | {refused:.1f} | {health:.1f} |")

        clients = {"admin": from_address(server.url, "127.0.0.7"), "no-such-user": from_address(server.url, "127.0.0.8")}
        times: dict[str, list[float]] = {login: [] for login in clients}
        for i in range(5):  # five wrong passwords: the sixth would meet the lock
            for login, c in clients.items():
                variables = {"l": login, "p": f"wrong-{i}"}
                times[login].append(timed(
                    lambda c=c, v=variables: c.post("/graphql", json={"query": LOGIN, "variables": v})))
        known, unknown = (statistics.median(times[k]) * 1000 for k in clients)
        print(f"\nwrong-password sign-in, median of 5: known account {known:.0f} ms, unknown {unknown:.0f} ms, "
              f"ratio {known / unknown:.2f}")

        org = "Bench " + uuid.uuid4().hex[:6]
        admin.data('mutation($i: OrganizationInput!) { createOrganization(input: $i) { __typename } }',
                   {"i": {"name": org, "prefix": "BNCH"}})
        rows = ["分机号,姓名,密码,联络电话,所属组织,角色\r\n"]
        rows += [f"{100000 + i},Person {i},{'Imported-' + str(i) + '-Pw' if i % 250 == 0 else ''},,{org},\r\n"
                 for i in range(IMPORT_ROWS)]
        device = create_device(admin)
        audio = speech_wav("during the import")
        result: dict[str, httpx.Response] = {}
        importer = threading.Thread(target=lambda: result.setdefault("r", admin.http.post(
            "/api/v1/employees/import", files={"file": ("staff.csv", "".join(rows).encode(), "text/csv")},
            timeout=300)))
        during: dict[str, list[float]] = {"sign-in": [], "search": [], "upload": []}
        started = time.perf_counter()
        importer.start()
        while importer.is_alive():
            during["sign-in"].append(timed(lambda: Client(server.url).login("admin", ADMIN_PASSWORD)))
            during["search"].append(timed(lambda: admin.data('{ recordings(filter: {caller: "1001"}) { total } }')))
            during["upload"].append(timed(lambda: httpx.post(
                server.url + "/api/v1/recordings",
                data={"call_id": uuid.uuid4().hex, "caller": "1001", "callee": "100007",
                      "started_at": "2024-05-01T09:30:00+08:00"},
                files={"audio": ("call.wav", audio, "application/octet-stream")},
                auth=(device["alias"], device["secret"]), timeout=60)))
        importer.join()
        took = time.perf_counter() - started
        print(f"\nduring a {IMPORT_ROWS}-row import ({result['r'].status_code}, {took:.1f} s):")
        print("| request | count | median (ms) | worst (ms) |")
        print("|---|---:|---:|---:|")
        for kind, values in during.items():
            print(f"| {kind} | {len(values)} | {statistics.median(values) * 1000:.0f} | {max(values) * 1000:.0f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
