"""Issue 11, defects 3 and 4: sessions and tokens end with a password change, a reset,
a disabled or a deleted account; an employee who had tokens can be deleted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.server import (
    ADMIN_PASSWORD,
    DEFAULT_PASSWORD,
    ApplianceServer,
    Client,
    first_login,
)

ME = "{ me { login } }"
RECORDINGS = "{ recordings { total } }"


def signed_out(c: Client) -> bool:
    """The client's session or token no longer lets it in (as the console would see it)."""
    body = c.gql(RECORDINGS)
    return c.gql(ME)["data"]["me"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def signed_in(c: Client) -> bool:
    return "errors" not in c.gql(RECORDINGS)


def access_ended(admin: Client, login: str) -> list[dict]:
    """The params of the audit entries saying what ended for this login, newest first."""
    items = admin.data(
        '{ auditLog(pageSize: 100) { items { event params account } } }'
    )["auditLog"]["items"]
    return [i["params"] for i in items if i["event"] == "access_ended" and i["params"]["login"] == login]


def new_employee(admin: Client, password: str = "Emp-Pass-2024") -> dict:
    prefix = "".join(chr(65 + int(d)) for d in str(uuid.uuid4().int)[:4])
    org = admin.data(
        "mutation($i: OrganizationInput!) { createOrganization(input: $i) { __typename ... on Organization { id } ... on UserError { message } } }",
        {"i": {"name": f"Dept {prefix}", "prefix": prefix}},
    )["createOrganization"]
    assert org["__typename"] == "Organization", org
    emp = admin.data(
        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename ... on Employee { id login } ... on UserError { message } } }",
        {"i": {"extension": "8001", "name": "Zhang San", "password": password, "organizationId": org["id"], "roleIds": []}},
    )["createEmployee"]
    assert emp["__typename"] == "Employee", emp
    return {**emp, "org": org["id"], "password": password}


def make_token(c: Client, name: str, login: str | None = None) -> str:
    made = c.data(
        "mutation($n: String!, $l: String) { createApiToken(name: $n, login: $l) { __typename ... on NewApiToken { secret } ... on UserError { message } } }",
        {"n": name, "l": login},
    )["createApiToken"]
    assert made["__typename"] == "NewApiToken", made
    return made["secret"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> Iterator[ApplianceServer]:
    url = request.getfixturevalue("postgres").create_database() if request.param == "postgres" else None
    s = ApplianceServer(url).start()
    first_login(s.url).data("mutation { logout { ok } }")  # so every test counts its own sessions
    yield s
    s.stop()


def test_someone_signed_in_with_the_default_password_is_out_once_it_is_changed(fresh_server):
    intruder = Client(fresh_server.url)
    assert intruder.login("admin", DEFAULT_PASSWORD)["__typename"] == "LoginSuccess"
    early_token = fresh_server.cli("admin", "token", "create", "--name", "early").stdout.strip().splitlines()[-1]
    owner = first_login(fresh_server.url)  # signs in with the default password and changes it
    assert signed_in(owner)
    assert signed_out(intruder)
    # Anything minted while the known default password was in force is not trusted.
    assert signed_out(Client(fresh_server.url, early_token))
    ended = access_ended(owner, "admin")
    assert ended and ended[0]["sessions"] == 1 and ended[0]["tokens"] == 1


def test_changing_the_password_ends_every_other_session_and_keeps_the_callers(server):
    one = Client(server.url)
    two = Client(server.url)
    three = Client(server.url)
    for c in (one, two, three):
        assert c.login("admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    token = make_token(one, "integration")
    changed = one.data(
        "mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) { __typename } }",
        {"o": ADMIN_PASSWORD, "n": "Changed-Pass-77"},
    )["changePassword"]
    assert changed["__typename"] == "Ok"
    assert signed_in(one)
    assert signed_out(two) and signed_out(three)
    # An ordinary change keeps integrators' tokens (a separate credential, revoked on its own).
    assert signed_in(Client(server.url, token))
    assert access_ended(one, "admin")[0]["sessions"] == 2
    back = one.data(
        "mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) { __typename } }",
        {"o": "Changed-Pass-77", "n": ADMIN_PASSWORD},
    )["changePassword"]
    assert back["__typename"] == "Ok"


def test_an_administrator_setting_an_employees_password_ends_the_employees_sessions(server):
    admin = Client(server.url)
    admin.login("admin", ADMIN_PASSWORD)
    emp = new_employee(admin)
    phone, desk = Client(server.url), Client(server.url)
    for c in (phone, desk):
        assert c.login(emp["login"], emp["password"])["__typename"] == "LoginSuccess"
    # Changing other fields without a password leaves the employee signed in.
    admin.data(
        "mutation($id: ID!, $i: EmployeeInput!) { updateEmployee(id: $id, input: $i) { __typename } }",
        {"id": emp["id"], "i": {"extension": "8001", "name": "Zhang Si", "organizationId": emp["org"], "roleIds": []}},
    )
    assert signed_in(phone)
    updated = admin.data(
        "mutation($id: ID!, $i: EmployeeInput!) { updateEmployee(id: $id, input: $i) { __typename } }",
        {"id": emp["id"], "i": {"extension": "8001", "name": "Zhang Si", "password": "New-Emp-Pass-1",
                                "organizationId": emp["org"], "roleIds": []}},
    )["updateEmployee"]
    assert updated["__typename"] == "Employee"
    assert signed_out(phone) and signed_out(desk)
    assert signed_in(admin)
    assert access_ended(admin, emp["login"])[0]["sessions"] == 2


def test_reset_password_on_the_command_line_ends_every_session(server):
    admin = Client(server.url)
    other = Client(server.url)
    admin.login("admin", ADMIN_PASSWORD)
    emp = new_employee(admin)
    emp_session = Client(server.url)
    emp_session.login(emp["login"], emp["password"])
    out = server.cli("admin", "reset-password", emp["login"], "--password", "Cli-Reset-Pass-1")
    assert "1 sessions ended" in out.stdout
    assert signed_out(emp_session)
    assert signed_in(admin)
    # The administrator's own reset ends the administrator's sessions too.
    other.login("admin", ADMIN_PASSWORD)
    server.cli("admin", "reset-password", "admin", "--password", ADMIN_PASSWORD + "x")
    assert signed_out(admin) and signed_out(other)
    server.cli("admin", "reset-password", "admin", "--password", ADMIN_PASSWORD)


def test_disabling_an_account_ends_its_sessions_and_revokes_its_tokens(server):
    admin = Client(server.url)
    admin.login("admin", ADMIN_PASSWORD)
    emp = new_employee(admin)
    session = Client(server.url)
    session.login(emp["login"], emp["password"])
    token = Client(server.url, make_token(session, "mine"))
    assert signed_in(session) and signed_in(token)
    out = server.cli("admin", "disable", emp["login"])
    assert "1 sessions ended, 1 API tokens revoked" in out.stdout
    assert signed_out(session) and signed_out(token)
    assert Client(server.url).login(emp["login"], emp["password"])["__typename"] == "LoginError"
    server.cli("admin", "enable", emp["login"])
    again = Client(server.url)
    assert again.login(emp["login"], emp["password"])["__typename"] == "LoginSuccess"
    assert signed_out(token)  # revoked for good: enabling does not bring tokens back


@pytest.mark.parametrize("token_made_by", ["employee", "administrator"])
def test_an_employee_with_tokens_can_be_deleted_and_nothing_of_theirs_works_after(server, token_made_by):
    admin = Client(server.url)
    admin.login("admin", ADMIN_PASSWORD)
    emp = new_employee(admin)
    session = Client(server.url)
    assert session.login(emp["login"], emp["password"])["__typename"] == "LoginSuccess"
    maker = session if token_made_by == "employee" else admin
    login = None if token_made_by == "employee" else emp["login"]
    tokens = [Client(server.url, make_token(maker, f"t{i}", login)) for i in range(2)]
    revoked = tokens[1].gql("{ apiTokens { id name } }")["data"]["apiTokens"]
    admin.data("mutation($id: ID!) { revokeApiToken(id: $id) { revoked } }",
               {"id": next(t["id"] for t in revoked if t["name"] == "t1")})
    assert signed_in(tokens[0]) and signed_in(session)
    deleted = admin.data(
        "mutation($id: ID!) { deleteEmployee(id: $id) { __typename ... on DeleteResult { deleted } ... on UserError { code message } } }",
        {"id": emp["id"]},
    )["deleteEmployee"]
    assert deleted == {"__typename": "DeleteResult", "deleted": 1}, deleted
    assert signed_out(session)
    assert all(signed_out(t) for t in tokens)
    assert Client(server.url).login(emp["login"], emp["password"])["__typename"] == "LoginError"
    listed = admin.data("{ apiTokens { login } }")["apiTokens"]
    assert emp["login"] not in {t["login"] for t in listed} and "?" not in {t["login"] for t in listed}
    ended = access_ended(admin, emp["login"])
    assert ended and ended[0]["sessions"] == 1 and ended[0]["tokens"] == 1
    events = admin.data('{ auditLog(filter: {type: "EMPLOYEE"}, pageSize: 5) { items { event params } } }')["auditLog"]["items"]
    assert any(e["event"] == "employee_deleted" and e["params"]["login"] == emp["login"] for e in events)
    # The same extension can be an employee again, with nothing of the old one attached.
    again = admin.data(
        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename ... on Employee { login } } }",
        {"i": {"extension": "8001", "name": "Li Si", "password": "Another-Pass-3", "organizationId": emp["org"], "roleIds": []}},
    )["createEmployee"]
    assert again["login"] == emp["login"]
    assert all(signed_out(t) for t in tokens)
