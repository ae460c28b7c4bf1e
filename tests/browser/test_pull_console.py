"""组网设备 in Chromium: an administrator adds a pull device for a PBX served by a real FTP
server, tests its connection, fetches now, sees the run's figures and problems, the
recordings in the list and the last-success time. The page is photographed in the three
languages at 1366x768 and 1920x1080."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.test_console import CHROMIUM, CONSOLE, FLAGS, field
from tests.browser.test_console_locale_layout import _shot, english_in
from tests.support import pbx_tree
from tests.support.pull_servers import FTP_PASSWORD, FTP_USER, FtpServer
from tests.support.server import ADMIN_PASSWORD, ApplianceServer, first_login

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not CONSOLE.exists(), reason="the console is not built (make console)"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

WORDS = {
    "zh-CN": {"tab": "组网设备", "ok": "登录成功", "fetched": "新获取 3", "had": "已有 3", "unrecognised": "无法识别的文件名"},
    "zh-TW": {"tab": "組網設備", "ok": "登入成功", "fetched": "新擷取 3", "had": "已有 3", "unrecognised": "無法辨識的檔名"},
    "en": {"tab": "Pull devices", "ok": "Signed in", "fetched": "3 fetched", "had": "3 already had", "unrecognised": "Name not recognised"},
}
PROPER = ["FTP", "FTPS", "SFTP", "HTTP", "HTTPS", "FSP", "PBX", "SSH", "TLS", "URL", "SHA-256", "FreePBX", "Grandstream",
          "monitor", "voicemail", "auto", "YYYY", "MM", "DD", "context", "fetched"]


@pytest.fixture(scope="module")
def pbx() -> Iterator[FtpServer]:
    base = Path(tempfile.mkdtemp(prefix="recorder-pbx-"))
    day = base / "monitor/2025/05/06"
    day.mkdir(parents=True)
    for name, seconds in (
        ("in-2101-13800002101-20250506-090000-1746493200.1.wav", 2),
        ("out-13900002102-2102-20250506-091500-1746494100.2.wav", 3),
        ("auto-1746496000-2103-2104.wav", 2),
        ("holiday-music.wav", 1),
    ):
        (day / name).write_bytes(pbx_tree._wav(seconds))
        os.utime(day / name, (pbx_tree.OLD, pbx_tree.OLD))
    server = FtpServer(base).start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def site():
    server = ApplianceServer(zone="Asia/Shanghai").start()
    admin = first_login(server.url)
    try:
        with sync_api.sync_playwright() as p:
            p.selectors.set_test_id_attribute("data-test")
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                yield server, browser, admin
            finally:
                browser.close()
    finally:
        server.stop()


def sign_in(site, locale: str, size: tuple[int, int] = (1366, 768)):
    server, browser, _ = site
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    context.add_init_script(f"localStorage.setItem('recorder.locale', '{locale}')")
    page = context.new_page()
    page.goto(server.url + "/#/login")
    field(page, "login-user").fill("admin")
    field(page, "login-password").fill(ADMIN_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("menu-settings")).to_be_visible()
    page.goto(server.url + "/#/settings?tab=pull")
    expect(page.get_by_test_id("pull-add")).to_be_visible()
    return page


def choose(page, test_id: str, option: str) -> None:
    page.get_by_test_id(test_id).click()
    page.locator(".el-select-dropdown__item:visible", has_text=option).first.click()


@pytest.mark.parametrize("locale", list(WORDS))
def test_add_test_fetch_and_see_the_recordings(site, pbx, locale):
    words = WORDS[locale]
    page = sign_in(site, locale)
    alias = f"freepbx-{locale.lower()}"
    try:
        expect(page.locator(".el-tabs__item.is-active")).to_have_text(words["tab"])
        page.get_by_test_id("pull-add").click()
        field(page, "pull-alias").fill(alias)
        field(page, "pull-address").fill(pbx.address)
        field(page, "pull-path").fill("monitor")
        field(page, "pull-username").fill(FTP_USER)
        field(page, "pull-secret").fill(FTP_PASSWORD)
        field(page, "pull-pattern").fill("{caller}_{when}")  # refused at its field first
        page.get_by_test_id("pull-save").click()
        expect(page.locator(".el-form-item__error").first).to_be_visible()
        field(page, "pull-pattern").fill("")
        page.get_by_test_id("pull-save").click()
        row = page.get_by_test_id("pull-table").locator("tbody tr", has_text=alias)
        expect(row).to_be_visible()

        row.get_by_test_id("pull-test").click()
        expect(page.get_by_test_id("pull-test-ok")).to_contain_text(words["ok"])
        expect(page.get_by_test_id("pull-test-entries")).to_contain_text("2025/")
        _shot(page, locale, "pull-test")
        page.keyboard.press("Escape")

        row.get_by_test_id("pull-now").click()
        expect(page.get_by_test_id("pull-result")).to_contain_text(words["fetched"])
        expect(page.get_by_test_id("pull-result-problems")).to_contain_text(words["unrecognised"])
        expect(page.get_by_test_id("pull-result-problems")).to_contain_text("holiday-music.wav")
        _shot(page, locale, "pull-result")
        page.keyboard.press("Escape")
        expect(row.get_by_test_id("pull-last-success")).to_contain_text("20")
        expect(row.get_by_test_id("pull-last-run")).to_contain_text(words["fetched"])
        if locale != "en":
            aliases = [f"freepbx-{x.lower()}" for x in WORDS]
            assert english_in(page, [*PROPER, *aliases, pbx.address, "holiday-music.wav"]) == []

        # The recordings the run stored, under the device's address, in the list.
        page.get_by_test_id("menu-recordings").click()
        field(page, "filter-device").fill(alias)
        page.get_by_test_id("search").click()
        table = page.get_by_test_id("recordings")
        expect(table.locator("tbody tr")).to_have_count(3)
        expect(table).to_contain_text("13800002101")
        expect(table).to_contain_text(re.compile(r"2025[/-]05[/-]06 09:00:00"))
    finally:
        page.context.close()


@pytest.mark.parametrize("size", ((1366, 768), (1920, 1080)), ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_pull_page_photographed_in_every_language(site, pbx, size):
    admin = site[2]
    if not admin.data("{ devices(mode: PULL) { id } }")["devices"]:
        admin.data(
            "mutation($i: DeviceInput!) { createDevice(input: $i) { __typename } }",
            {"i": {"alias": "freepbx-zh-cn", "mode": "PULL", "address": pbx.address, "secret": FTP_PASSWORD,
                   "pullProtocol": "FTP", "pullPath": "monitor", "pullUsername": FTP_USER}},
        )
    for locale in WORDS:
        page = sign_in(site, locale, size)
        try:
            expect(page.get_by_test_id("pull-table").locator("tbody tr").first).to_be_visible()
            _shot(page, locale, "pull-devices")
            if locale != "en":
                aliases = [f"freepbx-{x.lower()}" for x in WORDS]
                assert english_in(page, [*PROPER, *aliases, pbx.address]) == []
            page.get_by_test_id("pull-add").click()
            choose(page, "pull-protocol", "SFTP")
            page.get_by_test_id("pull-auth").locator("label").nth(1).click()
            key = page.locator("textarea[data-test='pull-public-key'], [data-test='pull-public-key'] textarea").first
            expect(key).to_have_value(re.compile("^ssh-ed25519 "))
            _shot(page, locale, "pull-dialog")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        finally:
            page.context.close()
