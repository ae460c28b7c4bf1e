"""The console as a Chinese enterprise administrator expects it (issue 14): local time in
SNs, cells, zip names and spreadsheets; every word in the chosen language; tables that fit
1366 px; only the controls a person's rights allow; refusals said in words. Every page is
photographed in each language at 1366x768 and 1920x1080 under var/screenshots/."""

from __future__ import annotations

import io
import itertools
import random
import re
import string
import uuid
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import openpyxl
import pytest

from tests.browser.test_console import CHROMIUM, CONSOLE, FLAGS, SHOTS, field
from tests.support.audio import tone_pcm, wav_bytes
from tests.support.server import (
    ADMIN_PASSWORD,
    DEFAULT_PASSWORD,
    ApplianceServer,
    first_login,
)

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not CONSOLE.exists(), reason="the console is not built (make console)"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

SIZES = ((1366, 768), (1920, 1080))
CHINESE = ("zh-CN", "zh-TW")
PASSWORD = "Emp-Pass-2024"
ORG = "华东区客户服务中心"
TAG = "投诉升级"
# Latin words a Chinese page may show: proper nouns, formats, protocols, the language
# picker's "English", and component and time-zone names.
PROPER = {
    "SN", "MP3", "WAV", "SIP", "RTP", "SIPREC", "HTTP", "IP", "API", "CSV", "Excel", "UTC", "IANA", "FSP", "WAN",
    "P2P", "WEB", "Python", "SQLite", "PostgreSQL", "English", "Asia", "Shanghai", "Element", "Plus",
    "strawberry", "graphql", "starlette", "uvicorn", "pony", "cryptography", "lameenc", "A–Z", "Z", "A", "QA",
    "employee", "tpl", "csv", "sip", "new", "built", "in", "admin", "Enter", "Delete",
}


def _scan_script() -> str:
    """Visible text and the accessible names (aria-label, placeholder, title) of visible elements."""
    return """() => {
      const out = [];
      const shown = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
        return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' && s.opacity !== '0'; };
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const text = n.textContent.trim();
        if (text && n.parentElement && shown(n.parentElement)) out.push(text);
      }
      for (const el of document.querySelectorAll('[aria-label], [placeholder], [title]')) {
        if (!shown(el)) continue;
        for (const a of ['aria-label', 'placeholder', 'title']) { const v = el.getAttribute(a); if (v) out.push(v); }
      }
      return out;
    }"""


def english_in(page, data: list[str]) -> list[str]:
    """Latin words on the page that are neither proper nouns nor the test's own data."""
    found = []
    for text in page.evaluate(_scan_script()):
        for value in data:
            text = text.replace(value, " ")
        text = re.sub(r"\b[0-9a-f]{8,}\b", " ", text)  # the machine id
        text = re.sub(r"\bRECORDER_[A-Z_]+\b", " ", text)  # an environment variable's name
        for word in re.findall(r"[A-Za-z][A-Za-z0-9–]*", text):
            if word not in PROPER:
                found.append(f"{word!r} in {text[:60]!r}")
    return found


class Site:
    def __init__(self, server: ApplianceServer, browser) -> None:
        self.server, self.browser = server, browser
        self.admin = first_login(server.url)
        self.device = {"alias": f"gw-{uuid.uuid4().hex[:6]}", "secret": "locale-secret-1"}
        self.prefix = "".join(random.choice(string.ascii_uppercase) for _ in range(4))
        self.data = [self.device["alias"], self.prefix]

    def context(self, locale: str, size: tuple[int, int] = (1366, 768)):
        context = self.browser.new_context(viewport={"width": size[0], "height": size[1]}, accept_downloads=True)
        context.add_init_script(f"localStorage.setItem('recorder.locale', '{locale}')")
        return context

    def sign_in(self, locale: str, login: str = "admin", password: str = ADMIN_PASSWORD, size=(1366, 768)):
        page = self.context(locale, size).new_page()
        page.goto(self.server.url + "/#/login")
        field(page, "login-user").fill(login)
        field(page, "login-password").fill(password)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("total")).to_be_visible(timeout=15_000)
        return page

    def upload(self, caller: str, callee: str, started: str, seconds: float = 2.0) -> dict:
        r = httpx.post(
            self.server.url + "/api/v1/recordings",
            data={"call_id": uuid.uuid4().hex, "caller": caller, "callee": callee, "started_at": started},
            files={"audio": ("call.wav", wav_bytes(tone_pcm(seconds), 8000), "audio/wav")},
            auth=(self.device["alias"], self.device["secret"]),
            timeout=60,
        )
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """An appliance in Asia/Shanghai with a department, two employees (one with no role, one
    whose role allows only playing) and calls with long numbers, a department and a tag."""
    server = ApplianceServer(zone="Asia/Shanghai").start()
    try:
        with sync_api.sync_playwright() as p:
            p.selectors.set_test_id_attribute("data-test")
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                made = Site(server, browser)
                admin = made.admin
                device = admin.data(
                    "mutation($i: DeviceInput!) { createDevice(input: $i) { ... on Device { id } } }",
                    {"i": {"alias": made.device["alias"], "address": "192.168.190.141", "secret": made.device["secret"], "mode": "PUSH"}},
                )["createDevice"]["id"]
                org = admin.data(
                    "mutation($i: OrganizationInput!) { createOrganization(input: $i) { ... on Organization { id } } }",
                    {"i": {"name": ORG, "prefix": made.prefix, "deviceId": device}},
                )["createOrganization"]["id"]
                role = admin.data(
                    "mutation($i: RoleInput!) { createRole(input: $i) { ... on Role { id } } }",
                    {"i": {"name": "质检员", "departmentIds": [org], "actions": ["PLAY"]}},
                )["createRole"]["id"]
                for extension, roles in (("8001", []), ("8002", [role])):
                    made_employee = admin.data(
                        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename } }",
                        {"i": {"extension": extension, "name": f"员工{extension}", "password": PASSWORD, "phone": "+86 138 0013 8000",
                               "organizationId": org, "roleIds": roles}},
                    )["createEmployee"]
                    assert made_employee["__typename"] == "Employee"
                made.first = made.upload("8001", "+8613800138000", "2026-03-01T01:30:00+00:00", 3)
                made.upload("13912345678", "8002", "2026-03-02T10:00:00+00:00")
                for day in range(3, 21):  # a full page (20), so the last row meets the player bar
                    made.upload("8001", f"0215{day:04d}", f"2026-03-{day:02d}T10:00:00+00:00", 1)
                tagged = admin.data(
                    'mutation($id: ID!) { tagRecording(id: $id, name: "投诉升级", offset: 1.0) { __typename } }',
                    {"id": made.first["id"]},
                )
                assert tagged["tagRecording"]["__typename"] == "Recording"
                yield made
            finally:
                browser.close()
    finally:
        server.stop()


def _shot(page, locale: str, name: str) -> None:
    page.wait_for_timeout(300)
    (SHOTS / locale).mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.screenshot(path=str(SHOTS / locale / f"{name}-{size['width']}x{size['height']}.png"), full_page=False)


# --- 1. the appliance's time zone everywhere ---------------------------------------------


def test_local_time_in_the_sn_the_cells_the_zip_and_the_sheet(site):
    """A call at 01:30 UTC is 09:30 in Shanghai: its SN, its cell, its zip entry and its
    spreadsheet cell (a real date-time) all say 09:30."""
    sn = site.first["sn"]
    assert sn.startswith("20260301_093000_"), sn
    page = site.sign_in("zh-CN")
    field(page, "filter-sn").fill("20260301_0930")  # a partial SN finds its recording
    page.get_by_test_id("search").click()
    expect(page.get_by_test_id("total")).to_have_text("共 1 条")
    row = page.get_by_test_id("recordings").locator("tbody tr").first
    expect(row).to_contain_text(sn)
    expect(row).to_contain_text("2026/03/01 09:30:00")
    page.context.close()
    admin = site.admin.http
    archive = zipfile.ZipFile(io.BytesIO(admin.get("/api/v1/recordings/archive.zip", params={"ids": site.first["id"]}).content))
    assert archive.namelist() == ["8001-+8613800138000-20260301093000.mp3"]
    sheet = openpyxl.load_workbook(io.BytesIO(admin.get("/api/v1/recordings/export.xlsx", params={"ids": site.first["id"], "lang": "zh-CN"}).content)).active
    header = [c.value for c in sheet[1]]
    assert header[2:6] == ["主叫归属", "被叫", "被叫归属", "时间"]
    assert sheet["F2"].value == datetime(2026, 3, 1, 9, 30) and sheet["F2"].is_date
    assert sheet["K2"].value == sn


# --- 2. every word in the chosen language ------------------------------------------------


@pytest.mark.parametrize("locale", CHINESE)
def test_no_english_on_the_chinese_pages_and_dialogs(site, locale):
    page = site.sign_in(locale)
    seen: list[str] = []

    def scan(where: str) -> None:
        seen.extend(f"{where}: {w}" for w in english_in(page, site.data))

    scan("recordings")
    page.get_by_test_id("row-play").first.click()
    expect(page.get_by_test_id("player")).to_be_visible()
    scan("player")
    page.get_by_test_id("score-list-button").hover()
    expect(page.get_by_test_id("score-list")).to_be_visible()
    scan("score list")
    page.get_by_test_id("playlist-button").click()
    scan("playlist")
    page.keyboard.press("Escape")
    page.get_by_test_id("row-delete").first.click()
    expect(page.locator(".el-message-box")).to_be_visible()
    scan("delete confirmation")
    page.locator(".el-message-box__btns .el-button:not(.el-button--primary)").click()
    page.get_by_test_id("more").click()
    page.locator(".el-dialog .el-date-editor").click()
    scan("more conditions with the date picker")
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-info").click()
    expect(page.get_by_test_id("system-info")).to_be_visible()
    scan("system information")
    page.keyboard.press("Escape")
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-password").click()
    scan("password dialog")
    page.keyboard.press("Escape")
    for menu, ready in (("audit", "audit-table"), ("organization", "org-tree"), ("roles", "role-table"), ("settings", "settings-form")):
        page.get_by_test_id(f"menu-{menu}").click()
        expect(page.get_by_test_id(ready)).to_be_visible()
        scan(menu)
        if menu == "organization":
            page.get_by_test_id("org-tree").get_by_text(ORG).first.click()
            expect(page.get_by_test_id("employee-table")).to_be_visible()
            scan("employees")
            page.get_by_test_id("employee-add").click()
            scan("employee dialog")
            page.keyboard.press("Escape")
            page.get_by_test_id("org-add").click()
            scan("department dialog")
            page.keyboard.press("Escape")
        if menu == "roles":
            page.get_by_test_id("role-add").click()
            scan("role dialog")
            page.keyboard.press("Escape")
    page.get_by_role("tab").nth(1).click()
    page.get_by_test_id("device-edit").first.click()
    scan("device dialog")
    page.keyboard.press("Escape")
    page.get_by_test_id("menu-organization").click()
    page.get_by_test_id("csv-import").click()
    how = page.get_by_test_id("import-how")
    expect(how).to_contain_text("|主管）")  # the separator said whole, not taken for a plural form
    scan("import dialog")
    page.keyboard.press("Escape")
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-logout").click()
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    scan("sign-in page")
    page.context.close()
    assert seen == [], "\n".join(seen)


def test_import_errors_and_settings_refusals_in_chinese(site, tmp_path):
    page = site.sign_in("zh-CN")
    page.get_by_test_id("menu-organization").click()
    page.get_by_test_id("csv-import").click()
    bad = tmp_path / "staff.csv"
    bad.write_text("分机号,姓名,密码,联络电话,所属组织,角色\r\n7001,赵六,Pass-Word-22,,市场部,\r\n7002,钱七,short,,华东区客户服务中心,\r\n", encoding="utf-8")
    page.get_by_test_id("csv-file").set_input_files(str(bad))
    page.get_by_test_id("csv-submit").click()
    errors = page.get_by_test_id("import-errors")
    expect(errors).to_contain_text("未导入任何数据")
    expect(errors).to_contain_text("没有名为“市场部”的部门")
    expect(errors).to_contain_text("至少 8 个字符")
    assert english_in(page, [*site.data, "staff.csv"]) == []
    page.get_by_test_id("menu-settings").click()
    port = field(page, "setting-sipPort")
    expect(page.get_by_test_id("range-sipPort")).to_have_text("(1024-65535)")
    expect(page.get_by_test_id("override-sipPort")).to_contain_text("RECORDER_SIP_PORT")
    before = site.admin.data("{ settings { sipPort diskUsageLimit } }")["settings"]
    port.fill("80")
    disk = field(page, "setting-diskUsageLimit")
    disk.fill("150")
    disk.press("Tab")
    expect(disk).to_have_value("150")  # never clamped in the box
    page.get_by_test_id("settings-save").click()
    expect(page.locator(".el-form-item__error").first).to_be_visible()
    assert english_in(page, site.data) == []
    assert site.admin.data("{ settings { sipPort diskUsageLimit } }")["settings"] == before  # nothing saved
    page.context.close()


def test_the_built_in_administrator_and_the_audit_export_in_the_readers_language(site):
    page = site.sign_in("zh-TW")
    expect(page.get_by_test_id("user-menu")).to_contain_text("管理員")
    page.get_by_test_id("menu-audit").click()
    expect(page.get_by_test_id("audit-table")).to_contain_text("管理員")
    field(page, "audit-account").fill("nobody-at-all")
    page.get_by_test_id("audit-search").click()
    expect(page.get_by_test_id("audit-total")).to_have_text(re.compile(r"共 0 筆"))
    page.get_by_test_id("audit-reset").click()
    expect(page.get_by_test_id("audit-total")).not_to_have_text(re.compile(r"共 0 筆"))
    with page.expect_download() as info:
        page.get_by_test_id("audit-export").click()
    rows = list(openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active.iter_rows(values_only=True))
    assert rows[0] == ("操作時間", "帳號", "姓名", "操作類型", "操作內容", "來源 IP")
    logins = [r for r in rows[1:] if r[1] == "admin" and r[3] == "登入"]
    assert logins and logins[0][2] == "管理員" and logins[0][4] == "登入" and isinstance(logins[0][0], datetime)
    page.context.close()


# --- 3. tables that fit ------------------------------------------------------------------

_ONE_LINE = """(selector) => {
  const table = document.querySelector(selector);
  const bad = [];
  for (const cell of table.querySelectorAll('.el-table__header .cell, .el-table__body .cell')) {
    const text = cell.textContent.trim();
    if (!text) continue;
    const range = document.createRange();
    range.selectNodeContents(cell);
    const tops = [...range.getClientRects()].filter((r) => r.width > 0).map((r) => r.top).sort((a, b) => a - b);
    if (tops.length && tops[tops.length - 1] - tops[0] > 8) bad.push('wraps: ' + text);
  }
  for (const cell of table.querySelectorAll('td.sn-cell .cell')) {
    if (cell.scrollWidth > cell.clientWidth) bad.push('SN cut: ' + cell.textContent.trim());
  }
  if (table.classList.contains('el-table--scrollable-x')) {
    const widths = [...table.querySelectorAll('.el-table__header th')].map((th) => `${th.textContent.trim()}=${th.offsetWidth}`);
    bad.push(`wider than the page (${table.offsetWidth}px): ${widths.join(' ')}`);
  }
  return bad;
}"""


@pytest.mark.parametrize("locale", ["zh-CN", "zh-TW", "en"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_recordings_table_fits_on_one_line(site, locale, size):
    page = site.sign_in(locale, size=size)
    table = page.get_by_test_id("recordings")
    expect(table.locator("tbody tr")).to_have_count(20)
    assert page.evaluate(_ONE_LINE, "[data-test='recordings']") == []
    # Dates year first, in the locale's own order.
    expect(table.locator("tbody tr").last).to_contain_text("2026-03-01 09:30:00" if locale == "en" else "2026/03/01 09:30:00")
    _shot(page, locale, "recordings")
    # Playing: the row is highlighted and the player bar never hides the last row.
    table.locator("tbody tr").last.get_by_test_id("row-play").click()
    expect(page.get_by_test_id("player")).to_be_visible()
    expect(table.locator("tbody tr.playing-row")).to_have_count(1)
    assert page.evaluate(_ONE_LINE, "[data-test='recordings']") == []  # the highlight fits too
    sn = page.get_by_test_id("player").locator(".sn")
    assert sn.evaluate("(el) => el.scrollWidth <= el.clientWidth") and sn.inner_text() == site.first["sn"]
    page.locator(".recordings .page").evaluate("(el) => el.scrollTo(0, el.scrollHeight)")
    last = table.locator("tbody tr").last.bounding_box()
    bar = page.get_by_test_id("player").bounding_box()
    assert last["y"] + last["height"] <= bar["y"] + 1
    page.get_by_test_id("tags-popover").first.click()
    expect(page.get_by_test_id("tag-chip").first).to_contain_text(TAG)
    _shot(page, locale, "recordings-playing")
    page.context.close()


# --- 4. only what a person may do --------------------------------------------------------


def _only_play_and_download(page) -> None:
    """The controls of someone who may play and download, and nothing else."""
    expect(page.get_by_test_id("row-play").first).to_be_visible()
    expect(page.get_by_test_id("download")).to_have_count(1)
    for absent in ("export", "delete-selected", "row-delete"):
        expect(page.get_by_test_id(absent)).to_have_count(0)
    page.get_by_test_id("row-play").first.click()
    expect(page.get_by_test_id("player")).to_be_visible()
    for absent in ("score-list-button", "tag-name", "add-tag"):
        expect(page.get_by_test_id(absent)).to_have_count(0)


def test_an_employee_sees_no_controls_for_rights_they_lack(site):
    """Employee 8001 has no role: they play and download their own calls, nothing else."""
    page = site.sign_in("zh-CN", login=site.prefix + "8001", password=PASSWORD)
    _only_play_and_download(page)
    _shot(page, "zh-CN", "recordings-employee")
    page.context.close()


def test_a_refused_download_is_a_message_not_a_file(site):
    """Employee 8002's role adds playing the department's calls to what every employee may
    do with their own (play, download): no export, delete or score. When the server refuses
    a download the page offered (here the session ended by a password reset meanwhile), the
    page says so in words and the browser saves nothing."""
    page = site.sign_in("zh-CN", login=site.prefix + "8002", password=PASSWORD)
    _only_play_and_download(page)
    page.context.close()
    page = site.sign_in("zh-CN", login=site.prefix + "8001", password=PASSWORD)
    downloads: list[object] = []
    page.on("download", lambda d: downloads.append(d))
    page.get_by_test_id("recordings").locator("tbody tr").first.locator(".el-checkbox").click()
    employee = next(e for e in site.admin.data("{ employees { id extension name organizationId roleIds } }")["employees"] if e["extension"] == "8001")
    reset = site.admin.data(
        "mutation($id: ID!, $i: EmployeeInput!) { updateEmployee(id: $id, input: $i) { __typename } }",
        {"id": employee["id"], "i": {"extension": "8001", "name": employee["name"], "password": PASSWORD, "phone": "",
                                     "organizationId": employee["organizationId"], "roleIds": employee["roleIds"]}},
    )
    assert reset["updateEmployee"]["__typename"] == "Employee"
    page.get_by_test_id("download").click()
    expect(page.locator(".el-message")).to_contain_text("登录已失效")
    page.wait_for_timeout(500)
    assert downloads == []
    page.context.close()


def test_a_refused_score_does_not_stay_in_the_box(site):
    page = site.sign_in("zh-CN")
    page.get_by_test_id("row-play").first.click()
    page.get_by_test_id("score-list-button").hover()
    expect(page.get_by_test_id("score-list")).to_be_visible()
    _shot(page, "zh-CN", "player-score-list")
    page.get_by_test_id("score-90").click()
    expect(page.locator(".el-message--success")).to_contain_text("评分：90 分")
    expect(page.get_by_test_id("recordings").locator("tbody tr.playing-row")).to_contain_text("90")
    page.get_by_test_id("score-list-button").hover()
    score = field(page, "player-score")
    score.fill("150")
    score.press("Enter")
    expect(page.get_by_test_id("score-list-button")).to_have_text(re.compile(r"评分: 90$"))
    page.context.close()


# --- 5. say what is happening ------------------------------------------------------------


def test_conditions_as_chips_and_a_delete_confirmation_that_names_the_recording(site):
    page = site.sign_in("zh-CN")
    page.get_by_test_id("more").click()
    field(page, "more-min").fill("3")
    page.get_by_test_id("more-search").click()
    expect(page.get_by_test_id("total")).to_have_text("共 1 条")
    chip = page.get_by_test_id("condition")
    expect(chip).to_have_text("最短时长（秒）：3")  # Chinese punctuation
    chip.locator(".el-tag__close").click()
    expect(page.get_by_test_id("condition")).to_have_count(0)
    expect(page.get_by_test_id("total")).to_have_text("共 20 条")
    page.get_by_test_id("row-delete").first.click()
    box = page.locator(".el-message-box")
    first_sn = page.get_by_test_id("recordings").locator("tbody tr").first.locator("td.sn-cell").inner_text()
    expect(box).to_contain_text(f"确定删除以下 1 条录音吗？{first_sn}。")
    page.locator(".el-message-box__btns .el-button:not(.el-button--primary)").click()
    page.context.close()


# --- 9. the forced password change -------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh-CN", "zh-TW", "en"])
def test_the_forced_password_change_shows_the_rules_a_language_picker_and_sign_out(site, locale):
    server = ApplianceServer().start()
    try:
        for size in SIZES:
            context = site.browser.new_context(viewport={"width": size[0], "height": size[1]})
            context.add_init_script(f"localStorage.setItem('recorder.locale', '{locale}')")
            page = context.new_page()
            page.goto(server.url + "/#/login")
            expect(page.get_by_test_id("login-submit")).to_be_visible()
            if locale in CHINESE:
                assert english_in(page, []) == []
            _shot(page, locale, "login")
            field(page, "login-user").fill("admin")
            field(page, "login-password").fill(DEFAULT_PASSWORD)
            page.get_by_test_id("login-submit").click()
            rules = page.get_by_test_id("password-rules")
            expect(rules).to_contain_text({"en": "8 to 128 characters", "zh-CN": "8 至 128 个字符", "zh-TW": "8 至 128 個字元"}[locale])
            expect(page.get_by_test_id("language")).to_be_visible()
            if locale in CHINESE:
                assert english_in(page, []) == []
            _shot(page, locale, "forced-password")
            page.get_by_test_id("forced-sign-out").click()
            expect(page).to_have_url(re.compile(r"#/login"))
            context.close()
    finally:
        server.stop()


# --- every page, each language, both sizes -----------------------------------------------


@pytest.mark.parametrize("locale", ["zh-CN", "zh-TW", "en"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_page_photographed_and_the_settings_save_in_reach(site, locale, size):
    page = site.sign_in(locale, size=size)
    _shot(page, locale, "recordings-list")
    page.get_by_test_id("more").click()
    _shot(page, locale, "recordings-more-conditions")
    page.keyboard.press("Escape")
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-info").click()
    expect(page.get_by_test_id("system-info")).to_be_visible()
    _shot(page, locale, "system-info")
    page.keyboard.press("Escape")
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("menu-password").click()
    _shot(page, locale, "password")
    page.keyboard.press("Escape")
    for menu, ready in (("audit", "audit-table"), ("organization", "org-tree"), ("roles", "role-table"), ("settings", "settings-form")):
        page.get_by_test_id(f"menu-{menu}").click()
        expect(page.get_by_test_id(ready)).to_be_visible()
        if menu == "organization":
            page.get_by_test_id("org-tree").get_by_text(ORG).first.click()
            expect(page.get_by_test_id("employee-table")).to_be_visible()
            assert page.evaluate(_ONE_LINE, "[data-test='employee-table']") == []  # phones whole
        _shot(page, locale, menu)
    # At 768 px tall the save button is in view without scrolling.
    save = page.get_by_test_id("settings-save").bounding_box()
    assert save["y"] + save["height"] <= size[1]
    page.get_by_role("tab").nth(1).click()
    expect(page.get_by_test_id("device-table")).to_be_visible()
    _shot(page, locale, "devices")
    page.get_by_test_id("device-edit").first.click()
    expect(page.get_by_test_id("secret-help")).to_be_visible()
    labels = page.locator(".device-form .el-form-item__label").all()
    boxes = [label.bounding_box() for label in labels]
    for above, below in itertools.pairwise(boxes):
        assert above["y"] + above["height"] <= below["y"] + 1  # labels never overlap
    _shot(page, locale, "device-dialog")
    page.keyboard.press("Escape")
    page.get_by_test_id("menu-organization").click()
    page.get_by_test_id("csv-import").click()
    expect(page.get_by_test_id("import-how")).to_be_visible()
    _shot(page, locale, "organization-import")
    page.context.close()
