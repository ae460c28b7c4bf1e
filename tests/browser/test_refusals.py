"""The console words a refusal in its own language with the limits the server sent: the
server's rules are changed for this test (a sitecustomize on the server's PYTHONPATH, no
hook in the product), and the new numbers appear in every language though no locale file
says them."""

from __future__ import annotations

import os
import random
import string
import textwrap
from collections.abc import Iterator

import pytest

from tests.browser.test_console import CHROMIUM, CONSOLE, Console, browser, field  # noqa: F401
from tests.support.server import ApplianceServer, first_login

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not CONSOLE.exists(), reason="the console is not built (make console)"),
    pytest.mark.skipif(bool(os.environ.get("RECORDER_TEST_BINARY")), reason="a compiled binary reads no sitecustomize"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

# Limits no locale file and no client control knows: the default gain range is 1 to 10 and
# the console's own number box allows up to 10, a password 8 characters at least.
GAIN_MAX = 7
PASSWORD_MIN = 12
# What each language says for them, built from the server's numbers.
SAID = {
    "en": (f"1 to {GAIN_MAX}", f"At least {PASSWORD_MIN} characters"),
    "zh-CN": (f"1 至 {GAIN_MAX}", f"至少 {PASSWORD_MIN} 个字符"),
    "zh-TW": (f"1 至 {GAIN_MAX}", f"至少 {PASSWORD_MIN} 個字元"),
}

SITECUSTOMIZE = f"""
    # Test only: the appliance started with other limits in its rules.
    import appliance.domain.accounts as accounts
    import appliance.domain.settings as settings

    settings.RANGES["mixing_gain"] = (1, {GAIN_MAX})
    accounts.PASSWORD_MIN_LENGTH = {PASSWORD_MIN}
"""


@pytest.fixture(scope="module")
def console(browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:  # noqa: F811
    """An appliance whose rules say other limits, with one department to add employees to."""
    rules = tmp_path_factory.mktemp("changed-rules")
    (rules / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE), encoding="utf-8")
    server = ApplianceServer()
    server.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(rules), server.env.get("PYTHONPATH")) if p)
    server.start()
    try:
        made = Console(server, browser)
        admin = first_login(server.url)
        made.prefix = "R" + "".join(random.choice(string.ascii_uppercase) for _ in range(3))
        created = admin.data(
            "mutation($i: OrganizationInput!) { createOrganization(input: $i) { __typename } }",
            {"i": {"name": "Refusals", "prefix": made.prefix}},
        )
        assert created["createOrganization"]["__typename"] == "Organization", created
        # The server itself applies the changed rule (not only the console's words).
        refused = admin.data("mutation { updateSettings(input: {mixingGain: 9}) { ... on UserError { field rule params } } }")
        assert refused["updateSettings"] == {"field": "mixingGain", "rule": "out_of_range", "params": {"min": 1, "max": GAIN_MAX, "value": 9}}
        yield made
    finally:
        server.stop()


def _error_at(page, test_id: str):
    """The message Element Plus shows under the form item that holds this control."""
    return page.locator(".el-form-item").filter(has=page.locator(f"[data-test='{test_id}']")).locator(".el-form-item__error")


@pytest.mark.parametrize("locale", list(SAID))
def test_the_servers_limits_in_the_consoles_language(console, locale):
    gain_words, password_words = SAID[locale]
    page = console.page(locale)
    console.sign_in(page)
    page.get_by_test_id("menu-settings").click()
    gain = field(page, "setting-mixingGain")
    gain.fill("9")  # within the console's box (up to 10), above the server's new limit
    gain.press("Tab")
    page.get_by_test_id("settings-save").click()
    expect(_error_at(page, "setting-mixingGain")).to_have_text(gain_words)

    page.get_by_test_id("menu-organization").click()
    page.get_by_test_id("org-tree").get_by_text(f"Refusals ({console.prefix})").click()
    page.get_by_test_id("employee-add").click()
    field(page, "employee-extension").fill("501")
    field(page, "employee-name").fill("Zhou Liu")
    field(page, "employee-password").fill("Short-Pass1")  # 11 characters, three kinds
    page.get_by_test_id("employee-save").click()
    expect(_error_at(page, "employee-password")).to_have_text(password_words)  # at the password, as sent
    page.context.close()
    assert console.errors == [], console.errors
