"""The web console in headless Chromium (Debian's), driven by Playwright as a person would:
sign in, search, play, seek, score, tag, download, export, change the password, and an
employee who sees only their own calls. Every page is photographed in each language
under var/screenshots/ (look at them), and no page may log a browser error."""

from __future__ import annotations

import io
import random
import re
import shutil
import string
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import openpyxl
import pytest

from tests.support.audio import tone_pcm, wav_bytes
from tests.support.server import ADMIN_PASSWORD, DEFAULT_PASSWORD, ApplianceServer, Client

CHROMIUM = shutil.which("chromium")
CONSOLE = Path(__file__).resolve().parents[2] / "appliance" / "web" / "index.html"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
LANGUAGES = {"zh-CN": "录音管理", "zh-TW": "錄音管理", "en": "Recordings"}
# What Chromium needs to run headless here without reaching for the network.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not CONSOLE.exists(), reason="the console is not built (make console)"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


class Console:
    """The appliance with a few recordings, and a browser to use it."""

    def __init__(self, server: ApplianceServer, browser) -> None:
        self.server, self.browser = server, browser
        self.errors: list[str] = []
        self.device = {"alias": f"gw-{uuid.uuid4().hex[:6]}", "secret": "console-secret"}
        self.prefix = "Q" + "".join(random.choice(string.ascii_uppercase) for _ in range(3))

    def page(self, locale: str = "en"):
        context = self.browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
        context.add_init_script(f"localStorage.setItem('recorder.locale', '{locale}')")
        page = context.new_page()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    def sign_in(self, page, login: str = "admin", password: str = ADMIN_PASSWORD) -> None:
        page.goto(self.server.url + "/#/login")
        field(page, "login-user").fill(login)
        field(page, "login-password").fill(password)
        page.get_by_test_id("login-submit").click()

    def shot(self, page, locale: str, name: str) -> None:
        page.wait_for_timeout(300)
        (SHOTS / locale).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / locale / f"{name}.png"), full_page=True)

    def upload(self, caller: str, callee: str, seconds: float, started: str, freq: float = 440) -> None:
        audio = wav_bytes(tone_pcm(seconds, freq=freq), 8000)
        r = httpx.post(
            self.server.url + "/api/v1/recordings",
            data={"call_id": uuid.uuid4().hex, "caller": caller, "callee": callee, "started_at": started},
            files={"audio": ("call.wav", audio, "audio/wav")},
            auth=(self.device["alias"], self.device["secret"]),
            timeout=60,
        )
        assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def console() -> Iterator[Console]:
    server = ApplianceServer().start()
    with sync_api.sync_playwright() as p:
        p.selectors.set_test_id_attribute("data-test")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield Console(server, browser)
        finally:
            browser.close()
            server.stop()


@pytest.fixture()
def no_browser_errors(console: Console) -> Iterator[None]:
    console.errors.clear()
    yield
    assert console.errors == [], console.errors


def field(page, test_id: str):
    """The text box of a form control, whether the test id sits on it or on its wrapper."""
    return page.locator(f"input[data-test='{test_id}'], [data-test='{test_id}'] input").first


def _admin_api(console: Console) -> Client:
    admin = Client(console.server.url)
    assert admin.login("admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    return admin


def test_first_login_forces_the_password_change(console, no_browser_errors):
    for locale in LANGUAGES:
        page = console.page(locale)
        page.goto(console.server.url + "/")
        expect(page.get_by_test_id("login-submit")).to_be_visible()
        console.shot(page, locale, "login")
        page.get_by_test_id("login-submit").click()  # nothing typed: a clear message
        expect(page.get_by_test_id("login-error")).to_be_visible()
        page.context.close()
    page = console.page("en")
    console.sign_in(page, password="wrong-password")
    expect(page.get_by_test_id("login-error")).to_contain_text("Wrong user name or password")
    console.sign_in(page, password=DEFAULT_PASSWORD)
    expect(page).to_have_url(re.compile(r"#/password$"))
    console.shot(page, "en", "forced-password")
    field(page, "old-password").fill(DEFAULT_PASSWORD)
    field(page, "new-password").fill(ADMIN_PASSWORD)
    field(page, "repeat-password").fill(ADMIN_PASSWORD)
    page.get_by_test_id("save-password").click()
    expect(page).to_have_url(re.compile(r"#/recordings$"))
    page.context.close()
    # The console's session is a real one: the API knows the new password.
    admin = _admin_api(console)
    created = admin.data(
        "mutation($i: DeviceInput!) { createDevice(input: $i) { __typename } }",
        {"i": {"alias": console.device["alias"], "address": "192.0.2.20", "secret": console.device["secret"], "mode": "PUSH"}},
    )
    assert created["createDevice"]["__typename"] == "Device"
    console.upload("8001", "9001", 6, "2026-03-01T10:00:00+00:00")
    console.upload("8001", "9002", 4, "2026-03-02T10:00:00+00:00")
    console.upload("8002", "9001", 3, "2026-03-03T10:00:00+00:00")


def test_search_with_several_conditions(console, no_browser_errors):
    page = console.page("en")
    console.sign_in(page)
    expect(page.get_by_test_id("total")).to_have_text("3 recordings")
    field(page, "filter-caller").fill("8001")
    page.get_by_test_id("search").click()
    expect(page.get_by_test_id("total")).to_have_text("2 recordings")
    page.get_by_test_id("more").click()
    field(page, "more-min").fill("5")
    page.get_by_test_id("more-search").click()
    expect(page.get_by_test_id("total")).to_have_text("1 recordings")
    expect(page.get_by_test_id("recordings").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("recordings").locator("tbody tr").first).to_contain_text("9001")
    page.get_by_test_id("reset").click()
    expect(page.get_by_test_id("total")).to_have_text("3 recordings")
    page.context.close()


def _player_seconds(page) -> int:
    h, m, s = (int(x) for x in page.get_by_test_id("player-time").inner_text().split(":"))
    return h * 3600 + m * 60 + s


def test_play_seek_score_tag_and_jump_to_the_tag(console, no_browser_errors):
    page = console.page("en")
    console.sign_in(page)
    field(page, "filter-callee").fill("9001")
    field(page, "filter-caller").fill("8001")
    page.get_by_test_id("search").click()
    expect(page.get_by_test_id("total")).to_have_text("1 recordings")
    page.get_by_test_id("row-play").first.click()
    expect(page.get_by_test_id("player")).to_be_visible()
    expect(page.get_by_test_id("player-time")).not_to_have_text("00:00:00", timeout=10_000)  # time advances
    page.get_by_test_id("play-pause").click()  # pause
    wave = page.get_by_test_id("waveform")
    box = wave.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)  # seek to ~4.5 s of 6
    expect(page.get_by_test_id("player-time")).to_have_text(re.compile(r"00:00:0[45]"))
    score = field(page, "player-score")
    score.fill("87")
    score.press("Enter")
    expect(page.get_by_test_id("recordings").locator("tbody tr").first).to_contain_text("87")
    field(page, "tag-name").fill("complaint")
    page.get_by_test_id("add-tag").click()
    expect(page.get_by_test_id("tags-popover")).to_have_text("1 tags")
    console.shot(page, "en", "recordings-playing")
    # The tag is kept with its position; clicking it plays from there.
    admin = _admin_api(console)
    rec = admin.data('{ recordings(filter: {tag: "complaint"}) { items { score tags { name offset } } } }')["recordings"]["items"][0]
    assert rec["score"] == 87 and 3.5 <= rec["tags"][0]["offset"] <= 5.5
    page.get_by_test_id("play-pause").click()
    page.wait_for_timeout(300)
    page.get_by_test_id("tags-popover").click()
    page.get_by_test_id("tag-chip").first.click()
    expect(page.get_by_test_id("player-time")).to_have_text(re.compile(r"00:00:0[3-6]"))
    page.context.close()


def test_download_a_zip_and_export_the_xlsx(console, no_browser_errors, tmp_path):
    page = console.page("en")
    console.sign_in(page)
    expect(page.get_by_test_id("total")).to_have_text("3 recordings")
    page.get_by_test_id("recordings").locator("tbody tr").nth(0).locator(".el-checkbox").click()
    page.get_by_test_id("recordings").locator("tbody tr").nth(1).locator(".el-checkbox").click()
    with page.expect_download() as info:
        page.get_by_test_id("download").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert len(archive.namelist()) == 2 and all(n.endswith(".mp3") for n in archive.namelist())
    # Nothing selected: everything matched, after a confirmation.
    page.get_by_test_id("recordings").locator("thead .el-checkbox").click()
    page.get_by_test_id("recordings").locator("thead .el-checkbox").click()
    page.get_by_test_id("export").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Confirm").click()
    sheet = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    callers = [row[0].value for row in sheet.iter_rows(min_row=2) if row[0].value]
    assert len(callers) == 3
    page.context.close()


def test_top_right_menu_system_information_and_password(console, no_browser_errors):
    page = console.page("en")
    console.sign_in(page)
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-info").click()
    info = page.get_by_test_id("system-info")
    expect(info).to_contain_text("Max concurrent channels")
    expect(info).to_contain_text("1000")
    console.shot(page, "en", "system-info")
    page.keyboard.press("Escape")
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-logout").click()
    expect(page).to_have_url(re.compile(r"#/login"))
    page.context.close()


def test_every_page_in_every_language(console, no_browser_errors):
    for locale, menu_label in LANGUAGES.items():
        page = console.page(locale)
        console.sign_in(page)
        expect(page.get_by_test_id("menu-recordings")).to_contain_text(menu_label)
        expect(page.get_by_test_id("total")).to_be_visible()
        console.shot(page, locale, "recordings")
        page.get_by_test_id("more").click()
        console.shot(page, locale, "recordings-more-conditions")
        page.keyboard.press("Escape")
        page.get_by_test_id("row-play").first.click()
        expect(page.get_by_test_id("player-time")).not_to_have_text("00:00:00", timeout=10_000)
        console.shot(page, locale, "player")
        page.context.close()


def test_an_employee_sees_only_their_own_calls_and_no_administration(console, no_browser_errors):
    admin = _admin_api(console)
    device_id = next(d["id"] for d in admin.data("{ devices { id alias } }")["devices"] if d["alias"] == console.device["alias"])
    org = admin.data(
        "mutation($i: OrganizationInput!) { createOrganization(input: $i) { __typename ... on Organization { id } ... on UserError { message } } }",
        {"i": {"name": f"Sales {console.prefix}", "prefix": console.prefix, "deviceId": device_id}},
    )["createOrganization"]
    assert org["__typename"] == "Organization", org
    employee = admin.data(
        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename ... on UserError { message } } }",
        {"i": {"extension": "8002", "name": "Li Si", "organizationId": org["id"], "password": "Employee-Pass-1"}},
    )["createEmployee"]
    assert employee["__typename"] != "UserError", employee
    page = console.page("en")
    console.sign_in(page, console.prefix + "8002", "Employee-Pass-1")
    expect(page.get_by_test_id("total")).to_have_text("1 recordings")
    expect(page.get_by_test_id("recordings").locator("tbody tr").first).to_contain_text("8002")
    expect(page.get_by_test_id("row-delete")).to_have_count(0)
    expect(page.get_by_test_id("menu-recordings")).to_have_count(1)
    page.context.close()
