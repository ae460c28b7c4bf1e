"""Organisations, roles and employees made by an administrator, as the console makes them."""

from __future__ import annotations

import secrets
import string

from tests.support.server import Client

PASSWORD = "Emp-Pass-2024"


def random_prefix() -> str:
    """Four upper-case letters; from `secrets` so no seeded `random` repeats one across runs."""
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(4))


def create_org(admin: Client, name: str, prefix: str, device: str | None = None, parent: str | None = None) -> str:
    r = admin.data(
        "mutation($i: OrganizationInput!) { createOrganization(input: $i) { __typename ... on Organization { id } ... on UserError { message } } }",
        {"i": {"name": name, "prefix": prefix, "deviceId": device, "parentId": parent}},
    )["createOrganization"]
    assert r["__typename"] == "Organization", r
    return r["id"]


def create_role(admin: Client, name: str, departments: list[str], actions: list[str]) -> str:
    r = admin.data(
        "mutation($i: RoleInput!) { createRole(input: $i) { __typename ... on Role { id } ... on UserError { message } } }",
        {"i": {"name": name, "departmentIds": departments, "actions": actions}},
    )["createRole"]
    assert r["__typename"] == "Role", r
    return r["id"]


def create_employee(admin: Client, url: str, extension: str, org: str, prefix: str, roles: list[str]) -> Client:
    """The employee, signed in (as prefix + extension) in a client of their own."""
    r = admin.data(
        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename ... on Employee { login } ... on UserError { message } } }",
        {"i": {"extension": extension, "name": f"E{extension}", "password": PASSWORD, "phone": "", "organizationId": org, "roleIds": roles}},
    )["createEmployee"]
    assert r["__typename"] == "Employee", r
    client = Client(url)
    assert client.login(prefix + extension, PASSWORD)["__typename"] == "LoginSuccess"
    return client
