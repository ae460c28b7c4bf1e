"""Fragment fan-out and other costly documents are refused, and the server keeps answering
(issue 11, #1).

Before the fix a 1.4 KB anonymous query of 40 fragment levels, each spreading the next
twice, held the event loop for hours (validation walked every path: 2^levels). How fast a
refusal comes is measured by benchmarks/refusals.py, not here: a loaded machine must not
fail a test, so a request only has to finish before its deadline, which the old code
missed by hours.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.graphql_fanout import LEVELS, SHAPES, chain
from tests.support.server import ApplianceServer, prepare_admin

TIMEOUT = 15.0  # a deadline for each request, not a speed


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ApplianceServer, str]]:
    s = ApplianceServer().start()
    try:
        _, token = prepare_admin(s)
        yield s, token
    finally:
        s.stop()


def _refused(client: httpx.Client, query: str) -> dict:
    """The refusal's first error; /health must answer right after it."""
    r = client.post("/graphql", json={"query": query})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body.get("data") is None and body["errors"], body
    assert client.get("/health").status_code == 200
    return body["errors"][0]


@pytest.mark.parametrize("shape", SHAPES)
def test_fragment_fan_out_is_refused_while_health_answers(server, shape):
    s, _ = server
    anonymous = httpx.Client(base_url=s.url, timeout=TIMEOUT)
    for levels in LEVELS:
        query = chain(levels, SHAPES[shape])
        error = _refused(anonymous, query)
        # It says which limit, in words and in the extensions.
        assert error["extensions"]["code"] == "QUERY_LIMIT", error
        assert error["extensions"]["limit"] in ("fields", "aliases"), error
        assert "at most" in error["message"], error


def test_fan_out_inside_nested_fields_is_refused_for_signed_in_users_too(server):
    """Spreads under nested fields (introspection types nest without end), as an admin."""
    s, token = server
    admin = httpx.Client(base_url=s.url, timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"})
    body = lambda i: f"name ofType {{ ...F{i + 1} }} fields {{ type {{ ...F{i + 1} }} }}"  # noqa: E731
    for levels in (10, 30, 60):
        query = chain(levels, body, on="__Type", root='__type(name: "User")')
        error = _refused(admin, query)
        assert error["extensions"]["limit"] in ("depth", "fields"), error
    # Fan-out under a list field, with a few levels only: graphql-core's introspection depth
    # rule stops it first.
    wide = lambda i: f"name a: fields {{ type {{ ...F{i + 1} }} }} b: fields {{ type {{ ...F{i + 1} }} }}"  # noqa: E731
    error = _refused(admin, chain(4, wide, on="__Type", root='__type(name: "User")'))
    assert error["message"] == "Maximum introspection depth exceeded", error


def test_fragment_cycles_and_oversized_documents_are_refused(server):
    s, _ = server
    anonymous = httpx.Client(base_url=s.url, timeout=TIMEOUT)
    cyclic = "query { me { ...A } } fragment A on User { login ...B ...B } fragment B on User { login ...A ...A }"
    error = _refused(anonymous, cyclic)
    assert "within itself" in error["message"], error
    huge = "query { me { login } } " + "#" + "x" * (64 * 1024)
    error = _refused(anonymous, huge)
    assert error["extensions"] == {"code": "QUERY_LIMIT", "limit": "bytes", "found": len(huge), "max": 65536}
    assert "bytes" in error["message"]
    # Too many fields without any fragment.
    flat = "query { me { " + "login " * 1100 + "} }"
    error = _refused(anonymous, flat)
    assert error["extensions"]["limit"] == "fields" and "1,101 fields" in error["message"]  # me and 1100 logins, error


def test_ordinary_documents_still_pass(server):
    """GraphiQL's introspection (as graphql-js and graphql-core write it) and fragments used once."""
    from graphql import get_introspection_query

    s, token = server
    admin = httpx.Client(base_url=s.url, timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"})
    for query in (
        get_introspection_query(descriptions=True, input_value_deprecation=True),
        get_introspection_query(
            descriptions=True,
            specified_by_url=True,
            directive_is_repeatable=True,
            schema_description=True,
            input_value_deprecation=True,
        ),
        "query { me { ...A ...B } } fragment A on User { login } fragment B on User { name ...A }",
    ):
        body = admin.post("/graphql", json={"query": query}).json()
        assert "errors" not in body, body["errors"]


@pytest.mark.parametrize(
    "query",
    [
        "query { " + " ".join(f"tagSuggestions(limit: {i})" for i in range(320)) + " }",
        "query { " + " ".join(f"... on Query {{ tagSuggestions(limit: {i}) }}" for i in range(170)) + " }",
        "query { " + " ".join(f"...F{i}" for i in range(110)) + " } "
        + " ".join(f"fragment F{i} on Query {{ recordings(page: {i}) {{ total }} }}" for i in range(110)),
    ],
    ids=["fields", "inline fragments", "named fragments"],
)
def test_same_field_with_different_arguments_over_and_over_is_refused(server, query):
    """graphql-core compares same-named fields pairwise: 0.5 to 1.2 s of CPU for each of these
    at its default budget (measured here, idle machine), a few tens of ms at ours."""
    s, _ = server
    anonymous = httpx.Client(base_url=s.url, timeout=TIMEOUT)
    error = _refused(anonymous, query)
    assert error["extensions"]["limit"] == "comparisons" and "ask for each field once" in error["message"], error
