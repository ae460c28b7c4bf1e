"""统计分析 in Chromium: every template opened in two languages, its chart drawn (a canvas
and a non-empty series), its table, the export; an employee has no department template.
The pages are photographed in the three languages at 1366x768 and 1920x1080."""

from __future__ import annotations

import io
import re
import uuid

import httpx
import openpyxl
import pytest

from tests.browser.test_console import CHROMIUM, CONSOLE, FLAGS, field
from tests.browser.test_console_locale_layout import _shot, english_in
from tests.support.audio import tone_pcm, wav_bytes
from tests.support.people import PASSWORD, create_org, random_prefix
from tests.support.server import ADMIN_PASSWORD, ApplianceServer, create_device, first_login

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not CONSOLE.exists(), reason="the console is not built (make console)"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

LINKS = {
    "DAILY": "template=DAILY&at=2026-12-06",
    "MONTHLY": "template=MONTHLY&at=2026-12-01",
    "YEARLY": "template=YEARLY&at=2026-01-01",
    "DEPARTMENT": "template=DEPARTMENT&from=2026-11-01&to=2026-12-31",
    "CUSTOM": "template=CUSTOM&from=2026-11-01&to=2026-12-31",
}
TABS = {
    "zh-CN": {"DAILY": "日报", "MONTHLY": "月报", "YEARLY": "年报", "DEPARTMENT": "分部门报", "CUSTOM": "自定义报表"},
    "en": {"DAILY": "Daily", "MONTHLY": "Monthly", "YEARLY": "Yearly", "DEPARTMENT": "By department", "CUSTOM": "Custom"},
}
# Department names are data; "(s)" is the manual's own unit in "平均通话时长(s)".
PROPER = ["Sales", "Support", "s"]


@pytest.fixture(scope="module")
def site():
    server = ApplianceServer(zone="Asia/Shanghai").start()
    admin = first_login(server.url)
    device = create_device(admin)
    tag = uuid.uuid4().hex[:4]
    prefix = random_prefix()
    sales = create_org(admin, f"Sales {tag}", prefix, device["id"])
    support = create_org(admin, f"Support {tag}", random_prefix(), parent=sales)
    for extension, name, org in (("8001", "张三", sales), ("8002", "李四", sales), ("8003", "王五", support)):
        made = admin.data("mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename } }",
                          {"i": {"extension": extension, "name": name, "password": PASSWORD, "phone": "",
                                 "organizationId": org, "roleIds": []}})  # fmt: skip
        assert made["createEmployee"]["__typename"] == "Employee", made
    calls = [("8001", "13800138001", "2026-12-06T09:15:00+08:00", 3), ("13800138002", "8001", "2026-12-06T09:16:00+08:00", 4),
             ("8002", "13800138003", "2026-12-06T14:00:00+08:00", 2), ("8003", "8001", "2026-12-06T16:30:00+08:00", 5),
             ("8002", "13800138004", "2026-11-20T10:00:00+08:00", 3), ("8003", "13800138005", "2026-11-21T11:00:00+08:00", 2)]  # fmt: skip
    for caller, callee, started, seconds in calls:
        r = httpx.post(server.url + "/api/v1/recordings", auth=(device["alias"], device["secret"]), timeout=60,
                       data={"call_id": uuid.uuid4().hex, "caller": caller, "callee": callee, "started_at": started},
                       files={"audio": ("a.wav", wav_bytes(tone_pcm(seconds), 8000), "audio/wav")})  # fmt: skip
        assert r.status_code == 201, r.text
    try:
        with sync_api.sync_playwright() as p:
            p.selectors.set_test_id_attribute("data-test")
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                yield {"server": server, "browser": browser, "prefix": prefix, "tag": tag, "device": device["alias"]}
            finally:
                browser.close()
    finally:
        server.stop()


def sign_in(site, locale: str, login: str = "admin", password: str = ADMIN_PASSWORD, size=(1366, 768)):
    context = site["browser"].new_context(viewport={"width": size[0], "height": size[1]}, accept_downloads=True)
    context.add_init_script(f"localStorage.setItem('recorder.locale', '{locale}')")
    page = context.new_page()
    page.goto(site["server"].url + "/#/login")
    field(page, "login-user").fill(login)
    field(page, "login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("menu-reports")).to_be_visible()
    return page


GROUPING = {"DAILY": "HOUR", "MONTHLY": "DAY", "YEARLY": "MONTH", "DEPARTMENT": "DEPARTMENT", "CUSTOM": "DAY"}


def open_template(page, site, template: str) -> None:
    page.goto(f"{site['server'].url}/#/reports?{LINKS[template]}")
    expect(page.get_by_test_id(f"report-{template}")).to_have_class(re.compile(r"\bis-active\b"))
    # The chart holds this template's report, not the one before it.
    expect(page.get_by_test_id("report-chart")).to_have_attribute("data-grouping", GROUPING[template])


def chart_drawn(page) -> int:
    """The series drawn: a canvas in the chart, and how many of its points hold calls."""
    chart = page.get_by_test_id("report-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(chart).not_to_have_attribute("data-series", "0")
    return int(chart.get_attribute("data-series"))


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_template_draws_its_chart_and_table_and_exports(site, locale):
    page = sign_in(site, locale)
    try:
        page.get_by_test_id("menu-reports").click()
        for template in ("DAILY", "MONTHLY", "YEARLY", "DEPARTMENT", "CUSTOM"):
            open_template(page, site, template)
            expect(page.get_by_test_id(f"report-{template}")).to_have_text(TABS[locale][template])
            points = chart_drawn(page)
            expect(page.get_by_test_id("report-table").locator("tbody tr").first).to_be_visible()
            table = page.get_by_test_id("report-table")
            if template == "DAILY":
                assert points == 3  # 09:00, 14:00 and 16:00
                expect(page.get_by_test_id("report-calls")).to_have_text("4")
                row = table.locator("tbody tr", has_text="8001")
                expect(row).to_contain_text("张三")
                expect(row).to_contain_text("00:00:12")  # 3 + 4 + 5 s
            elif template == "MONTHLY":
                assert points == 1
            elif template == "YEARLY":
                assert points == 2  # November and December
                expect(page.get_by_test_id("report-calls")).to_have_text("6")
                expect(page.get_by_test_id("report-heatmap").locator("canvas")).to_have_count(1)
            elif template == "DEPARTMENT":
                assert points >= 2  # Sales and Support
            if locale == "zh-CN":
                found = english_in(page, [site["tag"], site["device"], *PROPER])
                assert found == [], "\n".join(found)
        # The custom template with a condition: only 8001's calls as the caller.
        field(page, "report-caller").fill("8001")
        page.get_by_test_id("report-search").click()
        expect(page.get_by_test_id("report-calls")).to_have_text("1")
        with page.expect_download() as done:
            page.get_by_test_id("report-export").click()
        book = openpyxl.load_workbook(io.BytesIO(open(done.value.path(), "rb").read()))
        assert book.sheetnames == ["extensions", "series", "heatmap"]
        rows = list(book["extensions"].iter_rows(values_only=True))
        assert rows[0][1] == ("分机号" if locale == "zh-CN" else "Extension")
        assert [r[1] for r in rows[1:]] == ["8001"]
        # The table sorts by a column's header: talk time, up then down.
        open_template(page, site, "DAILY")
        table = page.get_by_test_id("report-table")
        header = table.locator("th", has_text={"zh-CN": "总通话时长", "en": "Total talk time"}[locale])
        header.click()
        expect(table.locator("tbody tr td:first-child")).to_have_text(["8002", "8003", "8001"])
        header.click()
        expect(table.locator("tbody tr td:first-child")).to_have_text(["8001", "8003", "8002"])
    finally:
        page.context.close()


def test_an_employee_sees_their_own_extension_and_no_department_template(site):
    page = sign_in(site, "zh-CN", login=site["prefix"] + "8002", password=PASSWORD)
    try:
        open_template(page, site, "MONTHLY")
        expect(page.get_by_test_id("report-DEPARTMENT")).to_have_count(0)
        page.goto(f"{site['server'].url}/#/reports?template=YEARLY&at=2026-01-01")
        expect(page.get_by_test_id("report-calls")).to_have_text("2")
        rows = page.get_by_test_id("report-table").locator("tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("8002")
        expect(page.get_by_test_id("report-total")).to_have_text("共 1 条记录")
    finally:
        page.context.close()


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_the_report_pages_photographed_in_every_language(site, size):
    for locale in ("zh-CN", "zh-TW", "en"):
        page = sign_in(site, locale, size=size)
        try:
            for template in ("DAILY", "MONTHLY", "YEARLY", "DEPARTMENT", "CUSTOM"):
                open_template(page, site, template)
                chart_drawn(page)
                page.wait_for_timeout(400)  # the charts' entry animation
                _shot(page, locale, f"reports-{template.lower()}")
                assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
            page.get_by_test_id("report-help").click()
            expect(page.get_by_test_id("report-help-text")).to_be_visible()
            _shot(page, locale, "reports-help")
        finally:
            page.context.close()
