"""The console offers deleting to whoever holds the DELETE right, and only them (issue 11, #11)."""

from __future__ import annotations

import random
import shutil
import string
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.audio import tone_pcm, wav_bytes
from tests.support.server import ApplianceServer, Client, create_device, prepare_admin

CHROMIUM = shutil.which("chromium")
CONSOLE = Path(__file__).resolve().parents[2] / "appliance" / "web" / "index.html"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
PASSWORD = "Emp-Pass-2024"

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not CONSOLE.exists(), reason="the console is not built (make console)"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def site() -> Iterator[dict]:
    server = ApplianceServer().start()
    admin, _ = prepare_admin(server)
    device = create_device(admin)
    prefix = "".join(random.choice(string.ascii_uppercase) for _ in range(4))
    org = admin.data(
        "mutation($i: OrganizationInput!) { createOrganization(input: $i) { ... on Organization { id } } }",
        {"i": {"name": f"Dept-{uuid.uuid4().hex[:6]}", "prefix": prefix, "deviceId": device["id"]}},
    )["createOrganization"]["id"]
    role = admin.data(
        "mutation($i: RoleInput!) { createRole(input: $i) { ... on Role { id } } }",
        {"i": {"name": f"Deleters {uuid.uuid4().hex[:6]}", "departmentIds": [org], "actions": ["PLAY", "DELETE"]}},
    )["createRole"]["id"]
    for extension, roles in (("900", [role]), ("201", [])):
        made = admin.data(
            "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename } }",
            {"i": {"extension": extension, "name": f"E{extension}", "password": PASSWORD, "phone": "", "organizationId": org, "roleIds": roles}},
        )["createEmployee"]
        assert made["__typename"] == "Employee"
    up = httpx.post(
        server.url + "/api/v1/recordings",
        data={"call_id": uuid.uuid4().hex, "caller": "201", "callee": "555", "started_at": "2026-03-01T10:00:00+00:00"},
        files={"audio": ("a.wav", wav_bytes(tone_pcm(1.0), 8000))},
        auth=(device["alias"], device["secret"]),
    )
    assert up.status_code == 201, up.text
    with sync_api.sync_playwright() as p:
        p.selectors.set_test_id_attribute("data-test")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield {"server": server, "admin": admin, "browser": browser, "prefix": prefix, "recording": up.json()["id"]}
        finally:
            browser.close()
            server.stop()


def _signed_in_page(site: dict, login: str):
    page = site["browser"].new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.goto(site["server"].url + "/#/login")
    page.locator("input[data-test='login-user'], [data-test='login-user'] input").first.fill(login)
    page.locator("input[data-test='login-password'], [data-test='login-password'] input").first.fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("total")).to_have_text("1 recording", timeout=15_000)
    return page


def test_without_the_right_no_delete_button(site):
    page = _signed_in_page(site, site["prefix"] + "201")
    expect(page.get_by_test_id("row-play")).to_have_count(1)
    expect(page.get_by_test_id("row-delete")).to_have_count(0)
    expect(page.get_by_test_id("delete-selected")).to_have_count(0)
    page.context.close()


SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.mark.parametrize("locale", ["zh-CN", "zh-TW", "en"])
def test_a_deleters_recordings_page_in_each_language(site, locale):
    """What a manager with the DELETE right sees, for a person to look at (var/screenshots)."""
    for width, height in ((1366, 768), (1920, 1080)):
        context = site["browser"].new_context(viewport={"width": width, "height": height})
        context.add_init_script(f"localStorage.setItem('recorder.locale', '{locale}')")
        page = context.new_page()
        page.goto(site["server"].url + "/#/login")
        page.locator("input[data-test='login-user'], [data-test='login-user'] input").first.fill(site["prefix"] + "900")
        page.locator("input[data-test='login-password'], [data-test='login-password'] input").first.fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("row-delete")).to_have_count(1, timeout=15_000)
        expect(page.get_by_test_id("delete-selected")).to_have_count(1)
        page.wait_for_timeout(300)
        (SHOTS / locale).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / locale / f"recordings-delete-right-{width}x{height}.png"), full_page=True)
        context.close()


def test_with_the_right_the_manager_deletes_from_the_console(site):
    page = _signed_in_page(site, site["prefix"] + "900")
    expect(page.get_by_test_id("row-delete")).to_have_count(1)
    page.get_by_test_id("row-delete").click()
    page.locator(".el-message-box__btns .el-button--primary").click()
    expect(page.get_by_test_id("total")).to_have_text("0 recordings", timeout=10_000)
    page.context.close()
    gone = site["admin"].data("query($id: ID!) { recording(id: $id) { id } }", {"id": site["recording"]})
    assert gone["recording"] is None
    assert isinstance(site["admin"], Client)
