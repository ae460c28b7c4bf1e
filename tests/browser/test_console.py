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
from tests.support.server import (
    ADMIN_PASSWORD,
    DEFAULT_PASSWORD,
    ApplianceServer,
    Client,
    first_login,
)

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
        self.expected: list[str] = []  # errors a test causes on purpose (an HTTP 422 it asked for)
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
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        p.selectors.set_test_id_attribute("data-test")
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def console(browser) -> Iterator[Console]:
    """An appliance made ready through the API (password changed, a device, three calls),
    so that each test stands on the fixture alone, not on the tests before it."""
    server = ApplianceServer().start()
    try:
        made = Console(server, browser)
        admin = first_login(server.url)
        created = admin.data(
            "mutation($i: DeviceInput!) { createDevice(input: $i) { __typename } }",
            {"i": {"alias": made.device["alias"], "address": "192.0.2.20", "secret": made.device["secret"],
                   "mode": "PUSH"}},
        )
        assert created["createDevice"]["__typename"] == "Device"
        made.upload("8001", "9001", 6, "2026-03-01T10:00:00+00:00")
        made.upload("8001", "9002", 4, "2026-03-02T10:00:00+00:00")
        made.upload("8002", "9001", 3, "2026-03-03T10:00:00+00:00")
        yield made
    finally:
        server.stop()


@pytest.fixture()
def no_browser_errors(console: Console) -> Iterator[None]:
    console.errors.clear()
    console.expected.clear()
    yield
    unexpected = [e for e in console.errors if not any(x in e for x in console.expected)]
    assert unexpected == [], unexpected


def field(page, test_id: str):
    """The text box of a form control, whether the test id sits on it or on its wrapper."""
    return page.locator(f"input[data-test='{test_id}'], [data-test='{test_id}'] input").first


def _admin_api(console: Console) -> Client:
    admin = Client(console.server.url)
    assert admin.login("admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    return admin


def test_first_login_forces_the_password_change(browser):
    server = ApplianceServer().start()
    console = Console(server, browser)
    try:
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
        assert Client(server.url).login("admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
        assert Client(server.url).login("admin", DEFAULT_PASSWORD)["__typename"] == "LoginError"
        assert console.errors == []
    finally:
        server.stop()


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
    expect(page.get_by_test_id("total")).to_have_text("1 recording")
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
    expect(page.get_by_test_id("total")).to_have_text("1 recording")
    page.get_by_test_id("row-play").first.click()
    expect(page.get_by_test_id("player")).to_be_visible()
    expect(page.get_by_test_id("player-time")).not_to_have_text("00:00:00", timeout=10_000)  # time advances
    page.get_by_test_id("play-pause").click()  # pause
    wave = page.get_by_test_id("waveform")
    box = wave.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)  # seek to ~4.5 s of 6
    expect(page.get_by_test_id("player-time")).to_have_text(re.compile(r"00:00:0[45]"))
    page.get_by_test_id("score-list-button").hover()  # the manual's score list pops up
    score = field(page, "player-score")
    score.fill("87")
    score.press("Enter")
    expect(page.get_by_test_id("recordings").locator("tbody tr").first).to_contain_text("87")
    field(page, "tag-name").fill("complaint")
    page.get_by_test_id("add-tag").click()
    expect(page.get_by_test_id("tags-popover")).to_have_text("1 tag")
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
        page.get_by_test_id("menu-audit").click()
        expect(page.get_by_test_id("audit-table").locator("tbody tr").first).to_be_visible()
        console.shot(page, locale, "audit")
        page.get_by_test_id("menu-organization").click()
        expect(page.get_by_test_id("org-add-top")).to_be_visible()
        console.shot(page, locale, "organization")
        page.get_by_test_id("menu-roles").click()
        expect(page.get_by_test_id("role-table")).to_be_visible()
        console.shot(page, locale, "roles")
        page.get_by_test_id("menu-settings").click()
        expect(page.get_by_test_id("settings-form")).to_be_visible()
        console.shot(page, locale, "settings")
        page.get_by_role("tab").nth(1).click()
        expect(page.get_by_test_id("device-table")).to_be_visible()
        console.shot(page, locale, "devices")
        page.context.close()


def test_audit_trail_filters_and_export(console, no_browser_errors):
    # What the trail will show: one failed sign-in and one play, made here.
    admin = _admin_api(console)
    assert Client(console.server.url).login("admin", "wrong-password")["__typename"] == "LoginError"
    first = admin.data("{ recordings(pageSize: 1) { items { audioUrl } } }")["recordings"]["items"][0]
    assert admin.http.get(first["audioUrl"]).status_code == 200
    page = console.page("en")
    console.sign_in(page)
    page.get_by_test_id("menu-audit").click()
    page.get_by_test_id("audit-type").click()
    page.get_by_role("option", name="Failed sign-in", exact=True).click()
    page.get_by_test_id("audit-search").click()
    rows = page.get_by_test_id("audit-table").locator("tbody tr")
    expect(rows).to_have_count(1)  # the wrong password sent above
    expect(rows.first).to_contain_text("Failed sign-in")
    expect(page.get_by_test_id("audit-total")).to_have_text("1 entries")
    with page.expect_download() as info:
        page.get_by_test_id("audit-export").click()
    sheet = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    assert sheet.max_row == 2
    page.context.close()
    # What happened is said in the reader's language, not only the operation's name.
    page = console.page("zh-CN")
    console.sign_in(page)
    page.get_by_test_id("menu-audit").click()
    table = page.get_by_test_id("audit-table")
    expect(table.locator("tbody tr").first).to_contain_text("登录登录")  # this sign-in: type, details
    expect(table).to_contain_text("播放 20260")  # the play above
    expect(table).not_to_contain_text("logged in")
    page.context.close()


def test_a_setting_changed_is_kept_and_a_bad_one_explained(console, no_browser_errors):
    before = _admin_api(console).data("{ settings { diskUsageLimit } }")["settings"]
    try:
        _change_settings_in_the_console(console)
    finally:
        _admin_api(console).data(
            "mutation($i: SettingsInput!) { updateSettings(input: $i) { __typename } }", {"i": before}
        )


def _change_settings_in_the_console(console: Console) -> None:
    page = console.page("en")
    console.sign_in(page)
    page.get_by_test_id("menu-settings").click()
    limit = field(page, "setting-diskUsageLimit")
    limit.fill("85")
    limit.press("Tab")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_text("Settings saved")).to_be_visible()
    page.reload()
    expect(field(page, "setting-diskUsageLimit")).to_have_value("85")
    assert _admin_api(console).data("{ settings { diskUsageLimit } }")["settings"]["diskUsageLimit"] == 85
    port = field(page, "setting-sipPort")
    port.fill("25000")  # inside the RTP range
    port.press("Tab")
    expect(page.get_by_text("A new SIP port takes effect")).to_be_visible()
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_text("1024–65535, outside the RTP port range")).to_be_visible()  # the rule, in English
    assert _admin_api(console).data("{ settings { sipPort } }")["settings"]["sipPort"] == 1311
    page.context.close()


def test_organisation_employee_and_csv_import(console, no_browser_errors, tmp_path):
    page = console.page("en")
    console.sign_in(page)
    page.get_by_test_id("menu-organization").click()
    page.get_by_test_id("org-add-top").click()
    field(page, "org-name").fill("Support")
    field(page, "org-prefix").fill("bad prefix")
    page.get_by_test_id("org-save").click()
    expect(page.locator(".el-dialog .el-form-item__error")).to_be_visible()
    field(page, "org-prefix").fill("SUPP")
    page.get_by_test_id("org-save").click()
    page.get_by_test_id("org-tree").get_by_text("Support (SUPP)").click()
    page.get_by_test_id("employee-add").click()
    field(page, "employee-extension").fill("301")
    field(page, "employee-name").fill("Wang Wu")
    field(page, "employee-password").fill("Support-Pass-1")
    page.get_by_test_id("employee-save").click()
    expect(page.get_by_test_id("employee-table")).to_contain_text("SUPP301")
    page.get_by_test_id("csv-import").click()
    how = page.get_by_test_id("import-how")
    # The manual's import page: what the file holds comes before the file picker.
    for words in ("Extension, name and department are required", "separated by |", "employee-tpl.csv"):
        expect(how).to_contain_text(words)
    expect(page.get_by_test_id("csv-submit")).to_be_disabled()
    with page.expect_download() as info:
        page.get_by_test_id("csv-template").click()
    assert Path(info.value.path()).read_text(encoding="utf-8").startswith("\ufeff分机号")
    bad = tmp_path / "staff.csv"
    bad.write_text("分机号,姓名,密码,联络电话,所属组织,角色\r\n302,Zhao,Pass-Word-22,,Support,\r\n303,Qian,Pass-Word-33,,No Such Dept,\r\n", encoding="utf-8")
    console.expected.append("status of 422")  # the import's answer to a bad file (SPEC contract)
    page.get_by_test_id("csv-file").set_input_files(str(bad))
    expect(page.get_by_test_id("csv-chosen")).to_have_text("staff.csv")
    page.get_by_test_id("csv-submit").click()
    errors = page.get_by_test_id("import-errors")
    expect(errors).to_contain_text("Nothing was imported")
    expect(errors.locator("tbody tr")).to_have_count(1)
    expect(errors.locator("tbody tr").first).to_contain_text("3")
    expect(page.get_by_test_id("employee-table").locator("tbody tr")).to_have_count(1)  # all or nothing
    page.context.close()


def test_a_role_with_departments_and_rights(console, no_browser_errors):
    made = _admin_api(console).data(
        'mutation { createOrganization(input: {name: "Helpdesk", prefix: "HELP"}) { __typename } }'
    )
    assert made["createOrganization"]["__typename"] == "Organization"
    page = console.page("en")
    console.sign_in(page)
    page.get_by_test_id("menu-roles").click()
    page.get_by_test_id("role-add").click()
    field(page, "role-name").fill("Support managers")
    page.get_by_test_id("role-departments").get_by_text("Helpdesk (HELP)").locator("xpath=../..").locator(".el-checkbox").click()
    page.get_by_test_id("role-actions").get_by_text("Export").click()
    page.get_by_test_id("role-save").click()
    table = page.get_by_test_id("role-table")
    expect(table).to_contain_text("Support managers")
    expect(table).to_contain_text("Helpdesk")
    expect(table).to_contain_text("Export")
    role = next(r for r in _admin_api(console).data("{ roles { name departmentIds actions } }")["roles"] if r["name"] == "Support managers")
    assert sorted(role["actions"]) == ["EXPORT", "PLAY"] and len(role["departmentIds"]) == 1
    field(page, "role-search").fill("nobody")
    expect(table.locator("tbody tr.el-table__row")).to_have_count(0)
    page.context.close()


def test_a_push_device_added_in_its_dialog(console, no_browser_errors):
    page = console.page("en")
    console.sign_in(page)
    page.get_by_test_id("menu-settings").click()
    page.get_by_role("tab", name="Push devices").click()
    page.get_by_test_id("device-add").click()
    field(page, "device-alias").fill("branch-pbx")
    field(page, "device-address").fill("not an address!")
    field(page, "device-secret").fill("branch-secret")
    page.get_by_test_id("device-save").click()
    expect(page.locator(".el-form-item__error")).to_be_visible()  # the server's reason, at the field
    field(page, "device-address").fill("10.20.30.40")
    page.get_by_test_id("device-save").click()
    expect(page.get_by_test_id("device-table")).to_contain_text("branch-pbx")
    expect(page.get_by_test_id("device-table")).to_contain_text("10.20.30.40")
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
    expect(page.get_by_test_id("total")).to_have_text("1 recording")
    expect(page.get_by_test_id("recordings").locator("tbody tr").first).to_contain_text("8002")
    expect(page.get_by_test_id("row-delete")).to_have_count(0)
    expect(page.get_by_test_id("menu-recordings")).to_have_count(1)
    expect(page.get_by_test_id("menu-audit")).to_have_count(0)
    expect(page.get_by_test_id("menu-settings")).to_have_count(0)
    page.goto(console.server.url + "/#/settings")  # typed by hand: sent back to the recordings
    expect(page).to_have_url(re.compile(r"#/recordings$"))
    page.context.close()


def test_the_captcha_is_shown_refreshed_on_click_and_checked(console, no_browser_errors):
    server = ApplianceServer(captcha=True).start()
    try:
        page = console.page("zh-CN")
        page.goto(server.url + "/#/login")
        image = page.get_by_test_id("captcha-image")
        expect(image).to_be_visible()
        first = image.get_attribute("src")
        assert first and first.startswith("data:image/png")
        image.click()
        expect(image).not_to_have_attribute("src", first)
        field(page, "login-user").fill("admin")
        field(page, "login-password").fill(DEFAULT_PASSWORD)
        field(page, "login-captcha").fill("WRONG")
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("login-error")).to_contain_text("验证码错误")
        console.shot(page, "zh-CN", "login-captcha")
        page.context.close()
    finally:
        server.stop()


def test_signing_in_by_keyboard_alone_and_the_full_hd_layout(console, no_browser_errors):
    context = console.browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_init_script("localStorage.setItem('recorder.locale', 'en')")
    page = context.new_page()
    page.on("pageerror", lambda e: console.errors.append(str(e)))
    page.goto(console.server.url + "/#/login")
    field(page, "login-user").focus()
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("total")).to_have_text(re.compile(r"\d+ recordings"))
    # No sideways scrolling at full HD: the table fits the page.
    overflow = page.locator("[data-test=recordings] .el-scrollbar__wrap").first.evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 1
    console.shot(page, "en", "recordings-1920x1080")
    context.close()
