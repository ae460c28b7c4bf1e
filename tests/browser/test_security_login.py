"""The sign-in page's `next` cannot run script or leave the site (issue 11, #2), and
GraphiQL works from our own files under the Content-Security-Policy (#9); in Debian's
Chromium driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.server import ADMIN_PASSWORD, ApplianceServer, prepare_admin

CHROMIUM = shutil.which("chromium")
GRAPHIQL = Path(__file__).resolve().parents[2] / "appliance" / "web" / "graphiql" / "graphiql.min.js"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
sync_api = pytest.importorskip("playwright.sync_api")

MARK = "document.title='PWNED';window.__pwned=1;fetch('/health?pwned=1')"
# The raw query strings, as an attacker would put them in a link.
HOSTILE = {
    "javascript": "javascript:" + MARK.replace("'", "%27").replace(";", "%3B"),
    "encoded javascript": "%6Aavascript:" + MARK.replace("'", "%27").replace(";", "%3B"),
    "double-encoded javascript": "%256Aavascript%253Aalert(1)",
    "scheme-relative": "//evil.example/",
    "encoded scheme-relative": "/%2F%2Fevil.example/",
    "backslash": "/\\evil.example",
    "encoded backslash": "/%5Cevil.example",
    "tab between slashes": "/%09/evil.example",
    "other origin": "http://elsewhere/",
    "data URL": "data:text/html,<script>" + MARK.replace(";", "%3B") + "</script>",
}


class Browser:
    def __init__(self, server: ApplianceServer, browser) -> None:
        self.server, self.browser = server, browser
        self.origin = server.url

    def page(self):
        """A fresh profile that logs errors, dialogs and requests, and reaches only the appliance."""
        context = self.browser.new_context()
        page = context.new_page()
        page.errors, page.requests, page.dialogs = [], [], []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: page.requests.append(r.url))
        # Traffic stays on 127.0.0.1: a request elsewhere is recorded and never sent.
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(self.origin) else route.abort())
        return page

    def sign_in_at(self, page, raw_query: str) -> None:
        page.goto(f"{self.origin}/login?next={raw_query}")
        page.fill("#user", "admin")
        page.fill("#pass", ADMIN_PASSWORD)
        page.click("button[type=submit]")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    server = ApplianceServer().start()
    prepare_admin(server)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield Browser(server, chromium)
        finally:
            chromium.close()
            server.stop()


@pytest.mark.parametrize("name", HOSTILE)
def test_next_cannot_run_script_or_leave_the_site(browser, name):
    page = browser.page()
    browser.sign_in_at(page, HOSTILE[name])
    # Signed in, the page goes to the console's start and nowhere else.
    page.wait_for_url(lambda url: urlsplit(url).path == "/" and url.startswith(browser.origin), timeout=10_000)
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    assert page.url.startswith(browser.origin + "/"), page.url
    assert not any(urlsplit(url).path == "/health" for url in page.requests), page.requests  # the marker's fetch
    assert not any(not url.startswith(browser.origin) for url in page.requests), page.requests
    assert page.dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.title() != "PWNED"
    page.context.close()


def test_a_path_on_the_site_is_followed(browser):
    page = browser.page()
    browser.sign_in_at(page, "/graphql")
    page.wait_for_url(browser.origin + "/graphql", timeout=10_000)
    page.context.close()


@pytest.mark.skipif(not GRAPHIQL.exists(), reason="the console (with GraphiQL's files) is not built")
def test_graphiql_loads_from_the_appliance_under_the_csp(browser):
    page = browser.page()
    schema_request = lambda r: r.url.endswith("/graphql") and "__schema" in (r.request.post_data or "")  # noqa: E731
    with page.expect_response(schema_request, timeout=30_000) as introspection:
        browser.sign_in_at(page, "/graphql")
    page.wait_for_selector(".graphiql-container .graphiql-editors", timeout=20_000)
    page.wait_for_timeout(1000)
    assert page.evaluate("typeof GraphiQL") == "function"
    # Its schema request (introspection, signed in) passed the limits.
    body = introspection.value.json()
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query", body
    # Everything came from the appliance, and the page broke no rule of the CSP.
    assert all(url.startswith(browser.origin) or url.startswith("data:") for url in page.requests), page.requests
    assert page.errors == [], page.errors
    page.context.close()


@pytest.mark.skipif(not (GRAPHIQL.parents[1] / "index.html").exists(), reason="the console is not built")
@pytest.mark.parametrize("name", ["javascript", "scheme-relative", "other origin", "backslash"])
def test_the_consoles_own_sign_in_stays_on_the_site_too(browser, name):
    """The console signs in at /#/login?next=… and routes inside its hash: same rules hold."""
    page = browser.page()
    page.goto(f"{browser.origin}/#/login?next={HOSTILE[name]}")
    page.locator("input[data-test='login-user'], [data-test='login-user'] input").first.fill("admin")
    page.locator("input[data-test='login-password'], [data-test='login-password'] input").first.fill(ADMIN_PASSWORD)
    page.locator("[data-test='login-submit']").click()
    page.wait_for_url(lambda url: "#/login" not in url, timeout=10_000)
    page.wait_for_timeout(300)
    assert page.url.startswith(browser.origin + "/"), page.url
    assert not any(urlsplit(url).path == "/health" for url in page.requests), page.requests
    assert page.dialogs == [] and page.evaluate("window.__pwned") is None
    page.context.close()
