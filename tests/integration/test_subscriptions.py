"""GraphQL subscriptions over graphql-transport-ws, through the real server and a real
websocket client: activeCalls live within a second of a sipp SIPREC call, scoped like the
query; who may open a socket, what one may cost, and sockets closed when the sign-in ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import DATABASES, on_database
from tests.integration.test_siprec_calls import CALLEE, CALLER, two_stream_call
from tests.support import sipp
from tests.support.live import Subscriber, refused_upgrade
from tests.support.people import create_employee, create_org, random_prefix
from tests.support.server import ADMIN_PASSWORD, ApplianceServer, Client, prepare_admin

LIVE = "subscription { activeCalls { id device caller callee startedAt seconds } }"


class Site:
    def __init__(self, server: ApplianceServer, tmp: Path) -> None:
        self.server, self.tmp = server, tmp
        self.admin, self.token = prepare_admin(server)
        device = self.admin.data(
            'mutation { createDevice(input: {alias: "pbx-live", address: "127.0.0.1", '
            'secret: "pbx-secret", mode: PUSH}) { __typename ... on Device { id } } }'
        )["createDevice"]
        prefix = random_prefix()
        org = create_org(self.admin, "Live desk", prefix, device["id"])
        # The caller's own agent, and an agent of the same desk with another extension.
        self.party = create_employee(self.admin, server.url, CALLER, org, prefix, [])
        self.stranger = create_employee(self.admin, server.url, "5555", org, prefix, [])
        settings = {"fileFormat": "WAV", "rtpPortMin": 36000, "rtpPortMax": 36999}
        made = self.admin.data(
            "mutation($i: SettingsInput!) { updateSettings(input: $i) { __typename } }", {"i": settings}
        )["updateSettings"]
        assert made["__typename"] == "Settings", made

    def subscriber(self, client: Client | None = None, **kwargs) -> Subscriber:
        return Subscriber(self.server.url, client, **kwargs)

    def signed_in(self, login: str = "admin", password: str = ADMIN_PASSWORD) -> Client:
        client = Client(self.server.url)
        assert client.login(login, password)["__typename"] == "LoginSuccess"
        return client


@pytest.fixture(scope="module", params=DATABASES)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    server = ApplianceServer(**on_database(request)).start()
    try:
        yield Site(server, tmp_path_factory.mktemp("live"))
    finally:
        server.stop()


def calls(payload: dict) -> list[dict]:
    assert "errors" not in payload, payload
    return payload["data"]["activeCalls"]


@pytest.mark.skipif(not sipp.have_sipp(), reason="sipp (sip-tester) is not installed")
def test_active_calls_live_within_a_second_in_each_ones_scope(site, tmp_path):
    watchers = {
        "admin": site.subscriber(site.admin),
        "party": site.subscriber(site.party),
        "stranger": site.subscriber(site.stranger),
    }
    try:
        for w in watchers.values():
            w.acknowledged().subscribe(LIVE)
        for w in watchers.values():
            _, first = w.wait_for(lambda m: m["type"] == "next")
            assert calls(first["payload"]) == []
        call = sipp.start(sipp.scenario(*two_stream_call(3, tmp_path / "rtp.json")), site.server.sip_port, tmp_path)
        try:
            seen, came = {}, {}
            for name in ("admin", "party"):
                # Wall-clock time it came, against the call's start as the recorder answered it.
                at, message = watchers[name].wait_for(lambda m: m["type"] == "next" and calls(m["payload"]))
                (live,) = calls(message["payload"])
                assert (live["caller"], live["callee"], live["device"]) == (CALLER, CALLEE, "127.0.0.1")
                started = datetime.fromisoformat(live["startedAt"]).timestamp()
                seen[name] = time.time() - (time.monotonic() - at) - started
                came[name] = at
            print(f"activeCalls: the call seen {seen} s after it began")
            assert max(seen.values()) < 1.0, f"seen {seen} s after the call began"
            assert call.wait(timeout=60) == 0
            ended = time.monotonic()
        finally:
            if call.poll() is None:
                call.kill()
        # The BYE was answered before sipp exited: the call is gone within a second.
        for name in ("admin", "party"):
            at, _ = watchers[name].wait_for(
                lambda m: m["type"] == "next" and not calls(m["payload"]), after=came[name]
            )
            print(f"activeCalls: {name} saw the end {at - ended:.3f} s after sipp's exit")
            assert at - ended < 1.0, f"{name} saw the end {at - ended:.2f} s after the BYE"
        # The other agent never saw it: only the first, empty, list came.
        time.sleep(0.5)
        assert [calls(p) for _, p in watchers["stranger"].results()] == [[]]
        assert [len(calls(p)) for _, p in watchers["admin"].results()] == [0, 1, 0]
    finally:
        for w in watchers.values():
            w.close()


def test_a_socket_without_a_sign_in_is_refused(site):
    for payload in ({}, {"Authorization": "Bearer rec_not-a-token"}, {"Authorization": "Basic YTpi"},
                    {"Authorization": 12}):
        anonymous = site.subscriber(payload=payload)
        assert anonymous.wait_closed() == 4403, payload
    # A subscribe before connection_init's answer is not served either.
    assert refused_upgrade(site.server.url, origin="https://elsewhere.example", client=site.admin) == 403


def test_a_bearer_token_in_connection_init_signs_in(site):
    integrator = site.subscriber(payload={"Authorization": f"Bearer {site.token}"}).acknowledged()
    try:
        integrator.subscribe(LIVE)
        _, first = integrator.wait_for(lambda m: m["type"] == "next")
        assert calls(first["payload"]) == []
    finally:
        integrator.close()


def test_the_console_page_of_the_same_origin_may_open_one(site):
    same = site.subscriber(site.admin, origin=site.server.url).acknowledged()
    same.close()


def test_a_subscription_over_plain_http_is_refused(site):
    body = site.admin.gql(LIVE)
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST", body


def _agent(site: Site) -> tuple[Client, dict]:
    """An employee of a desk of their own, signed in; and their input, to update them."""
    prefix = random_prefix()
    org = create_org(site.admin, f"Desk {prefix}", prefix)
    agent = create_employee(site.admin, site.server.url, "7007", org, prefix, [])
    found = site.admin.data("query($o: ID) { employees(organizationId: $o) { id extension } }", {"o": org})
    (employee,) = found["employees"]
    return agent, {"id": employee["id"], "input": {"extension": "7007", "name": "E7007", "organizationId": org}}


@pytest.mark.parametrize("ending", ["logout", "password", "deleted", "revoked"])
def test_a_socket_closes_when_its_sign_in_ends(site, ending):
    if ending == "revoked":
        made = site.admin.data('mutation { createApiToken(name: "live") { ... on NewApiToken { secret token { id } } } }')
        made = made["createApiToken"]
        watcher = site.subscriber(payload={"Authorization": f"Bearer {made['secret']}"}).acknowledged()
    elif ending == "logout":
        person = site.signed_in()
        watcher = site.subscriber(person).acknowledged()
    else:
        agent, employee = _agent(site)
        watcher = site.subscriber(agent).acknowledged()
    other = site.subscriber(site.admin).acknowledged()  # the administrator's own socket stays
    try:
        watcher.subscribe(LIVE)
        watcher.wait_for(lambda m: m["type"] == "next")
        began = time.monotonic()
        if ending == "logout":
            person.data("mutation { logout { ok } }")
        elif ending == "password":
            # Set by an administrator: whatever the old password let in ends.
            employee["input"]["password"] = "Other-Pass-2024"
            done = site.admin.data(
                "mutation($id: ID!, $i: EmployeeInput!) { updateEmployee(id: $id, input: $i) { __typename } }",
                {"id": employee["id"], "i": employee["input"]},
            )["updateEmployee"]
            assert done["__typename"] == "Employee", done
        elif ending == "deleted":
            done = site.admin.data("mutation($id: ID!) { deleteEmployee(id: $id) { __typename } }", {"id": employee["id"]})
            assert done["deleteEmployee"]["__typename"] != "UserError", done
        else:
            site.admin.data("mutation($id: ID!) { revokeApiToken(id: $id) { id } }", {"id": made["token"]["id"]})
        assert watcher.wait_closed(timeout=5) == 4401
        assert time.monotonic() - began < 3.0
        assert not other.closed.is_set()
    finally:
        watcher.close()
        other.close()


def test_what_sockets_may_cost_is_bounded(site):
    from websockets.sync.client import connect

    from appliance.api.graphql.sockets import MAX_PER_ACCOUNT, MAX_PER_ADDRESS, MAX_SUBSCRIPTIONS

    opened: list[Subscriber] = []
    silent: list = []
    try:
        # Subscriptions per socket.
        first = site.subscriber(site.admin).acknowledged()
        opened.append(first)
        for n in range(MAX_SUBSCRIPTIONS + 1):
            first.subscribe(LIVE, ident=str(n))
        _, refused = first.wait_for(lambda m: m["type"] == "error")
        assert refused["id"] == str(MAX_SUBSCRIPTIONS) and "limit" in refused["payload"][0]["message"]
        # Sockets per account: the next one of the administrator is refused, not another's.
        while len(opened) < MAX_PER_ACCOUNT:
            opened.append(site.subscriber(site.admin).acknowledged())
        assert site.subscriber(site.admin).wait_closed() == 4403
        opened.append(site.subscriber(site.party).acknowledged())
        # Sockets per address, signed in or not yet: the upgrade itself is refused.
        url = site.server.url.replace("http", "ws", 1) + "/graphql"
        while len(opened) + len(silent) < MAX_PER_ADDRESS:
            silent.append(connect(url, subprotocols=["graphql-transport-ws"]).__enter__())  # type: ignore[list-item]
        assert refused_upgrade(site.server.url) == 403
    finally:
        for s in opened:
            s.close()
        for ws in silent:
            ws.close()
    # Closed sockets no longer count.
    site.subscriber(site.admin).acknowledged().close()


def test_a_socket_that_never_says_connection_init_is_closed(site):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from appliance.api.graphql.sockets import INIT_TIMEOUT

    url = site.server.url.replace("http", "ws", 1) + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        began = time.monotonic()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=INIT_TIMEOUT.total_seconds() + 5)
        assert ws.close_code == 4408
        assert time.monotonic() - began >= INIT_TIMEOUT.total_seconds() - 1


EVENTS = "subscription($after: Int) { events(after: $after) { id at kind process actor params } }"


def test_administrators_follow_the_event_log_and_resume_after_the_last_id(site):
    admin = site.subscriber(site.admin).acknowledged()
    agent = site.subscriber(site.party).acknowledged()
    try:
        admin.subscribe(EVENTS)
        agent.subscribe(EVENTS)
        _, refused = agent.wait_for(lambda m: m["type"] in ("error", "next"))
        assert refused["type"] == "error" or refused["payload"].get("errors"), refused
        time.sleep(0.6)  # the administrator's subscription has read where the log stands
        made = site.admin.data(
            'mutation { createDevice(input: {alias: "ev-gw", address: "127.0.0.9", secret: "ev-secret", mode: PUSH}) '
            "{ __typename ... on Device { id } } }"
        )["createDevice"]
        done = site.admin.data("mutation($id: ID!) { deleteDevice(id: $id) { __typename } }", {"id": made["id"]})
        assert done["deleteDevice"]["__typename"] != "UserError", done
        seen: list[dict] = []
        for kind in ("device.created", "device.deleted"):
            _, message = admin.wait_for(
                lambda m, k=kind: m["type"] == "next" and m["payload"]["data"]["events"]["kind"] == k, timeout=5
            )
            seen.append(message["payload"]["data"]["events"])
        created, deleted = seen
        assert created["actor"] == "admin" and "api" in created["process"].split("@")[0].split("+")
        assert created["params"]["alias"] == "ev-gw" and deleted["params"]["alias"] == "ev-gw"
        assert created["id"] < deleted["id"]
        assert datetime.fromisoformat(created["at"]).tzinfo is not None
    finally:
        admin.close()
        agent.close()
    # A new socket that names the last id it handled gets what came after, and only that.
    again = site.subscriber(site.admin).acknowledged()
    try:
        again.subscribe(EVENTS, variables={"after": created["id"]})
        _, message = again.wait_for(lambda m: m["type"] == "next", timeout=5)
        assert message["payload"]["data"]["events"]["id"] == deleted["id"]
    finally:
        again.close()
