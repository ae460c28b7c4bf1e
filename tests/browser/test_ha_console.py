"""主备设置 in Chromium with two real appliances: the administrator makes one the standby and
the other the primary with a pairing secret, watches them pair and the lag, records on the
primary, runs "sync now", and sees the standby read-only. Photographed in the three
languages at 1366x768 and 1920x1080."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.browser.test_console import CHROMIUM, CONSOLE, FLAGS, field
from tests.browser.test_console_locale_layout import _shot, english_in
from tests.support.audio import tone_pcm, wav_bytes
from tests.support.server import ADMIN_PASSWORD, ApplianceServer, create_device, first_login

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not CONSOLE.exists(), reason="the console is not built (make console)"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

SECRET = "a pairing secret typed twice"
PROPER = ["SHA-256", "ping"]
SIZES = [(1366, 768), (1920, 1080)]


@pytest.fixture(scope="module")
def site():
    servers = [ApplianceServer(zone="Asia/Shanghai").start() for _ in range(2)]
    try:
        admins = [first_login(s.url) for s in servers]
        device = create_device(admins[0])
        with sync_api.sync_playwright() as p:
            p.selectors.set_test_id_attribute("data-test")
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                yield servers, browser, device
            finally:
                browser.close()
    finally:
        for s in servers:
            s.stop()


def sign_in(browser, server: ApplianceServer, locale: str, size: tuple[int, int] = SIZES[0]):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    context.add_init_script(f"localStorage.setItem('recorder.locale', '{locale}')")
    page = context.new_page()
    page.goto(server.url + "/#/login")
    field(page, "login-user").fill("admin")
    field(page, "login-password").fill(ADMIN_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("menu-settings")).to_be_visible()
    page.goto(server.url + "/#/settings?tab=ha")
    return page


def choose(page, test_id: str, option: str) -> None:
    page.get_by_test_id(test_id).click()
    page.locator(".el-select-dropdown__item:visible", has_text=option).first.click()


def configure(page, role: str, peer: str, secret: str) -> None:
    choose(page, "ha-role-select", role)
    field(page, "ha-period").fill("2")
    field(page, "ha-peer-address").fill(peer)
    field(page, "ha-secret").fill(secret)
    page.get_by_test_id("ha-save").click()


def test_pair_two_appliances_watch_the_lag_and_sync_now(site):
    (primary, standby), browser, device = site
    there = sign_in(browser, standby, "zh-CN")
    here = sign_in(browser, primary, "zh-CN")
    try:
        expect(here.locator(".el-tabs__item.is-active")).to_have_text("主备设置")
        expect(here.get_by_test_id("ha-role")).to_have_text("单机")
        # A short secret is refused at its field.
        configure(there, "备机", f"127.0.0.1:{primary.ha_port}", "short")
        expect(there.locator(".ha-form .el-form-item__error")).to_contain_text("16")
        configure(there, "备机", f"127.0.0.1:{primary.ha_port}", SECRET)
        expect(there.get_by_test_id("ha-role")).to_have_text("备机")
        configure(here, "主机", f"127.0.0.1:{standby.ha_port}", SECRET)
        expect(here.get_by_test_id("ha-role")).to_have_text("主机")
        expect(here.get_by_test_id("ha-paired")).to_contain_text("已于", timeout=20_000)
        expect(here.get_by_test_id("ha-reachable")).to_have_text("可达", timeout=10_000)
        expect(here.get_by_test_id("ha-last-sync")).not_to_have_text("—", timeout=20_000)

        # Calls recorded on the primary; "sync now" brings the standby up to date: no lag.
        for n in range(3):
            r = httpx.post(primary.url + "/api/v1/recordings", auth=(device["alias"], device["secret"]), timeout=60,
                           data={"call_id": uuid.uuid4().hex, "caller": f"1380013800{n}", "callee": "8001",
                                 "started_at": "2026-03-01T01:30:00+00:00"},
                           files={"audio": ("a.wav", wav_bytes(tone_pcm(2.0), 8000), "application/octet-stream")})  # fmt: skip
            assert r.status_code == 201, r.text
        here.get_by_test_id("ha-sync-now").click()
        expect(here.get_by_text("正在同步备机")).to_be_visible()
        expect(here.get_by_test_id("ha-lag")).to_have_text("0 条录音，0 秒", timeout=20_000)
        _shot(here, "zh-CN", "ha-primary")

        # The standby: its administrator is the primary's now (the configuration arrived), its
        # pages are read-only, and the recordings are there.
        there = sign_in(browser, standby, "zh-CN")
        expect(there.get_by_test_id("standby-banner")).to_contain_text("备机：只读")
        expect(there.get_by_test_id("ha-role")).to_have_text("备机")
        expect(there.get_by_test_id("ha-make-primary")).to_be_visible()
        _shot(there, "zh-CN", "ha-standby")
        there.get_by_test_id("menu-recordings").click()
        expect(there.get_by_test_id("total")).to_have_text("共 3 条", timeout=10_000)

        for locale in ("zh-CN", "zh-TW", "en"):
            for size in SIZES:
                for name, server in (("ha-primary", primary), ("ha-standby", standby)):
                    page = sign_in(browser, server, locale, size)
                    expect(page.get_by_test_id("ha-status")).to_be_visible()
                    page.wait_for_timeout(500)
                    if locale != "en":
                        assert english_in(page, ["127.0.0.1", "7443", *PROPER]) == [], locale
                    _shot(page, locale, name)
                    page.context.close()
    finally:
        here.context.close()
        there.context.close()
