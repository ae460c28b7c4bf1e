"""The console's live calls, in headless Chromium: a sipp SIPREC call appears within 2 s
without a reload (over the websocket, not the 5 s polling), goes when it ends, and the
console is live again after the server restarts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.test_console import CHROMIUM, CONSOLE, FLAGS, SHOTS, field
from tests.integration.test_siprec_calls import CALLER, two_stream_call
from tests.support import sipp
from tests.support.server import ADMIN_PASSWORD, ApplianceServer, first_login

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not CONSOLE.exists(), reason="the console is not built (make console)"),
    pytest.mark.skipif(not sipp.have_sipp(), reason="sipp (sip-tester) is not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def server() -> Iterator[ApplianceServer]:
    server = ApplianceServer().start()
    try:
        admin = first_login(server.url)
        made = admin.data(
            'mutation { createDevice(input: {alias: "pbx-live", address: "127.0.0.1", '
            'secret: "pbx-secret", mode: PUSH}) { __typename } }'
        )["createDevice"]
        assert made["__typename"] == "Device", made
        settings = {"fileFormat": "WAV", "rtpPortMin": 37000, "rtpPortMax": 37999}
        admin.data("mutation($i: SettingsInput!) { updateSettings(input: $i) { __typename } }", {"i": settings})
        yield server
    finally:
        server.stop()


@pytest.fixture()
def page(server) -> Iterator[object]:
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        p.selectors.set_test_id_attribute("data-test")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            context.add_init_script("localStorage.setItem('recorder.locale', 'en')")
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/#/login")
            field(page, "login-user").fill("admin")
            field(page, "login-password").fill(ADMIN_PASSWORD)
            page.get_by_test_id("login-submit").click()
            page.get_by_test_id("live").click()  # the collapsed panel of live calls
            yield page
        finally:
            browser.close()
    # The socket closed by a restart is logged by Chromium; nothing else may be.
    unexpected = [e for e in errors if "WebSocket" not in e and "ERR_CONNECTION_REFUSED" not in e]
    assert not unexpected, unexpected


def test_a_new_call_appears_within_two_seconds_without_a_reload(server, page, tmp_path: Path):
    state = page.get_by_test_id("live-state")
    expect(state).to_have_text("live", timeout=10_000)  # the socket, not the 5 s polling
    expect(page.get_by_test_id("live")).to_contain_text("No call is being recorded")
    call = sipp.start(sipp.scenario(*two_stream_call(3, tmp_path / "rtp.json")), server.sip_port, tmp_path)
    try:
        began = time.monotonic()
        expect(page.get_by_test_id("live-table")).to_contain_text(CALLER, timeout=2_000)
        print(f"console: the call shown {time.monotonic() - began:.2f} s after sipp started")
        assert call.wait(timeout=60) == 0
    finally:
        if call.poll() is None:
            call.kill()
    expect(page.get_by_test_id("live")).to_contain_text("No call is being recorded", timeout=2_000)


def test_the_console_is_live_again_after_a_restart(server, page):
    state = page.get_by_test_id("live-state")
    expect(state).to_have_text("live", timeout=10_000)
    server.stop()
    expect(state).to_have_text("refreshed every 5 s", timeout=10_000)
    server.start()
    # The first retries come within a few seconds (back-off from 0.5-1 s, doubling).
    expect(state).to_have_text("live", timeout=20_000)


def test_a_live_call_in_each_language_and_size_for_a_person_to_look_at(server, tmp_path: Path):
    """Screenshots (var/screenshots/<locale>/live-calls-<size>.png) while a call is recorded."""
    call = sipp.start(sipp.scenario(*two_stream_call(25, tmp_path / "rtp.json")), server.sip_port, tmp_path)
    try:
        with sync_api.sync_playwright() as p:
            p.selectors.set_test_id_attribute("data-test")
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                for locale in ("zh-CN", "zh-TW", "en"):
                    for width, height in ((1366, 768), (1920, 1080)):
                        context = browser.new_context(viewport={"width": width, "height": height})
                        context.add_init_script(f"localStorage.setItem('recorder.locale', '{locale}')")
                        page = context.new_page()
                        page.goto(server.url + "/#/login")
                        field(page, "login-user").fill("admin")
                        field(page, "login-password").fill(ADMIN_PASSWORD)
                        page.get_by_test_id("login-submit").click()
                        expect(page.get_by_test_id("live")).to_be_visible()
                        page.get_by_test_id("live").click()
                        expect(page.get_by_test_id("live-table")).to_be_visible()
                        expect(page.get_by_test_id("live-table")).to_contain_text(CALLER, timeout=10_000)
                        page.wait_for_timeout(500)  # the panel's opening animation
                        (SHOTS / locale).mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(SHOTS / locale / f"live-calls-{width}x{height}.png"))
                        context.close()
            finally:
                browser.close()
    finally:
        call.kill()
        call.wait(timeout=10)
