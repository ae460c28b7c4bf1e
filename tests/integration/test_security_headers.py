"""Security headers on every route over HTTP and HTTPS, nothing loaded from elsewhere, and
introspection for signed-in people only (issue 11, #9)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.support.server import ApplianceServer, Client, prepare_admin

WEB = Path(__file__).resolve().parents[2] / "appliance" / "web"


@pytest.fixture(scope="module")
def servers() -> Iterator[dict]:
    server = ApplianceServer(https=True).start()
    try:
        admin, token = prepare_admin(server)
        yield {
            "http": server.url,
            "https": server.https_url,
            "verify": server.tls(),
            "cookies": dict(admin.http.cookies),
            "token": token,
        }
    finally:
        server.stop()


def _paths() -> list[str]:
    paths = ["/", "/login", "/graphql", "/health", "/static/login.js", "/api/v1/recordings/1/audio", "/no/such/page"]
    assets = sorted((WEB / "assets").glob("*.js"))[:1] + sorted((WEB / "assets").glob("*.css"))[:1]
    paths += [f"/assets/{a.name}" for a in assets]
    if (WEB / "graphiql").is_dir():
        paths += ["/graphiql/graphiql.min.css", "/graphiql/react.production.min.js"]
    return paths


def _csp(value: str) -> dict[str, list[str]]:
    directives = (part.strip().split() for part in value.split(";") if part.strip())
    return {d[0]: d[1:] for d in directives}


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_every_route_sends_the_security_headers(servers, scheme, signed_in):
    client = httpx.Client(
        base_url=servers[scheme], verify=servers["verify"], cookies=servers["cookies"] if signed_in else None
    )
    for path in _paths():
        r = client.get(path, headers={"Accept": "text/html"})
        assert r.status_code < 500, (path, r.status_code)
        csp = _csp(r.headers.get("content-security-policy", ""))
        assert csp.get("script-src") == ["'self'"], (path, csp)
        assert csp.get("frame-ancestors") == ["'none'"], (path, csp)
        assert csp.get("default-src") == ["'self'"] and csp.get("object-src") == ["'none'"], (path, csp)
        # Only our own origin, data: and blob: anywhere in the policy.
        sources = {s for values in csp.values() for s in values}
        assert sources <= {"'self'", "'none'", "'unsafe-inline'", "data:", "blob:"}, (path, sources)
        assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert r.headers.get("referrer-policy") in ("same-origin", "no-referrer"), path
        if scheme == "https":
            assert re.fullmatch(r"max-age=\d{7,}", r.headers.get("strict-transport-security", "")), path
        else:
            assert "strict-transport-security" not in r.headers, path
    # POSTs too (GraphQL answers, refusals).
    r = client.post("/graphql", json={"query": "{ __typename }"})
    assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.refs += [v for k, v in attrs if k in ("src", "href", "action") and v]
        if tag == "script" and "src" not in values:
            self.inline_scripts += 1
        if any(k.startswith("on") for k in values):
            self.inline_scripts += 1


def test_no_page_loads_anything_from_another_origin(servers):
    signed_in = httpx.Client(base_url=servers["http"], cookies=servers["cookies"])
    pages = {"/login": signed_in.get("/login"), "/graphql": signed_in.get("/graphql", headers={"Accept": "text/html"})}
    if (WEB / "index.html").exists():
        pages["/"] = signed_in.get("/")
    for path, r in pages.items():
        assert r.status_code == 200 and "text/html" in r.headers["content-type"], path
        parser = _Refs()
        parser.feed(r.text)
        assert parser.refs, path
        external = [ref for ref in parser.refs if re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", ref, re.I)]
        assert external == [], (path, external)
        assert parser.inline_scripts == 0, path  # the CSP would block them anyway
        for ref in parser.refs:
            if ref.startswith("/"):
                assert signed_in.get(ref).status_code == 200, (path, ref)
    # The stylesheets pull nothing from elsewhere either (fonts, @import).
    for css in [*sorted((WEB / "assets").glob("*.css")), *sorted((WEB / "graphiql").glob("*.css"))]:
        text = css.read_text(encoding="utf-8", errors="replace")
        assert not re.search(r"(?:@import|url\()\s*['\"]?(?:https?:)?//", text), css.name


def test_introspection_is_for_signed_in_people(servers):
    anonymous = Client(servers["http"])
    api = Client(servers["http"], token=servers["token"])
    for query in (
        "{ __schema { queryType { name } } }",
        '{ __type(name: "Recording") { fields { name } } }',
        "query { ...Q } fragment Q on Query { __schema { types { name } } }",
        "{ me { login } a: __schema { types { name } } }",
    ):
        body = anonymous.gql(query)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", (query, body)
        assert "errors" not in api.gql(query), query
    # __typename is no introspection: anyone may ask.
    assert anonymous.data("{ __typename }") == {"__typename": "Query"}
    assert anonymous.data("{ me { login } }") == {"me": None}
