"""备份管理 and 备份设置 in Chromium: an administrator sets the passphrase, a policy and a
local target, tests it, backs up now with progress, reads the log in two languages,
exports it, imports the set back (everything already here), and protects a recording.
The pages are photographed in the three languages at 1366x768 and 1920x1080."""

from __future__ import annotations

import io
import shutil
import tempfile
import uuid
from pathlib import Path

import httpx
import openpyxl
import pytest

from tests.browser.test_console import CHROMIUM, CONSOLE, FLAGS, field
from tests.browser.test_console_locale_layout import _shot, english_in
from tests.support.audio import speech_wav, tone_pcm, wav_bytes
from tests.support.server import ADMIN_PASSWORD, ApplianceServer, create_device, first_login

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not CONSOLE.exists(), reason="the console is not built (make console)"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

PASSPHRASE = "a long backup passphrase 2026"
DONE = {
    "zh-CN": "本地备份已执行:通话录音备份数[3],语音留言备份数[1]",
    "zh-TW": "本機備份已執行:通話錄音備份數[3],語音留言備份數[1]",
    "en": "Local backup done: 3 call recordings, 1 voice messages backed up",
}
PROPER = ["FTP", "SFTP", "NAS", "SMB", "TLS", "SHA-256", "HH", "MM", "KB", "MB", "GB", "ftp", "ftps", "sftp", "rset",
          "mnt", "backup", "recorder", "rms_backup", "srv", "Z", "zip"]


@pytest.fixture(scope="module")
def site():
    server = ApplianceServer(zone="Asia/Shanghai").start()
    admin = first_login(server.url)
    device = create_device(admin)
    for caller, kind, audio in (
        ("13800138001", "call", wav_bytes(tone_pcm(3.0), 8000)),
        ("13800138002", "call", wav_bytes(tone_pcm(2.0, freq=600), 8000)),
        ("13800138003", "call", wav_bytes(tone_pcm(4.0, freq=800), 8000)),
        ("13911112222", "voicemail", speech_wav("Please call me back.")),
    ):
        r = httpx.post(server.url + "/api/v1/recordings", auth=(device["alias"], device["secret"]), timeout=60,
                       data={"call_id": uuid.uuid4().hex, "caller": caller, "callee": "8001", "kind": kind,
                             "started_at": "2026-03-01T01:30:00+00:00"},
                       files={"audio": ("a.wav", audio, "application/octet-stream")})  # fmt: skip
        assert r.status_code == 201, r.text
    folder = Path(tempfile.mkdtemp(prefix="recorder-backup-console-"))
    try:
        with sync_api.sync_playwright() as p:
            p.selectors.set_test_id_attribute("data-test")
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                yield server, browser, admin, folder
            finally:
                browser.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def sign_in(site, locale: str, path: str, size: tuple[int, int] = (1366, 768)):
    server, browser, _, _ = site
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, accept_downloads=True)
    context.add_init_script(f"localStorage.setItem('recorder.locale', '{locale}')")
    page = context.new_page()
    page.goto(server.url + "/#/login")
    field(page, "login-user").fill("admin")
    field(page, "login-password").fill(ADMIN_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("menu-backup")).to_be_visible()
    page.goto(server.url + path)
    return page


def choose(page, test_id: str, option: str) -> None:
    page.get_by_test_id(test_id).click()
    page.locator(".el-select-dropdown__item:visible", has_text=option).first.click()


def test_set_up_back_up_now_read_the_log_in_two_languages_export_and_import(site):
    _, _, admin, folder = site
    page = sign_in(site, "zh-CN", "/#/settings?tab=backup")
    try:
        expect(page.locator(".el-tabs__item.is-active")).to_have_text("备份设置")
        # The passphrase: a short one is refused at its field, then a good one is saved.
        field(page, "backup-phrase").fill("short")
        field(page, "backup-phrase-repeat").fill("short")
        page.get_by_test_id("backup-phrase-save").click()
        expect(page.locator(".phrase .el-form-item__error")).to_contain_text("10")
        field(page, "backup-phrase").fill(PASSPHRASE)
        field(page, "backup-phrase-repeat").fill(PASSPHRASE)
        page.get_by_test_id("backup-phrase-save").click()
        expect(page.get_by_text("已设置备份密码。")).to_be_visible()

        # A weekly policy on Monday and Friday at 02:00.
        page.get_by_test_id("backup-policy-add").click()
        page.get_by_test_id("backup-policy-kind").get_by_text("每周").click()
        page.get_by_test_id("backup-policy-weekdays").get_by_text("星期一").click()
        page.get_by_test_id("backup-policy-weekdays").get_by_text("星期五").click()
        page.get_by_test_id("backup-policy-save").click()
        expect(page.get_by_test_id("backup-policies")).to_contain_text("每周 星期一、星期五 02:00")
        expect(page.get_by_test_id("backup-next-run")).to_contain_text("02:00")

        # A local target: a relative folder is refused at its field first.
        page.get_by_test_id("backup-target-add").click()
        field(page, "backup-target-location").fill("backup")
        page.get_by_test_id("backup-target-save").click()
        expect(page.locator(".target-form .el-form-item__error")).to_be_visible()
        field(page, "backup-target-location").fill(str(folder))
        page.get_by_test_id("backup-target-save").click()
        row = page.get_by_test_id("backup-targets").locator("tbody tr", has_text=str(folder))
        expect(row).to_contain_text("本地备份")
        row.get_by_test_id("backup-target-test").click()
        expect(page.get_by_test_id("backup-test-ok")).to_contain_text("登录成功")
        _shot(page, "zh-CN", "backup-test")
        page.keyboard.press("Escape")

        # Back up now, from the backup page: progress, then the result and the log entry.
        page.get_by_test_id("menu-backup").click()
        page.get_by_test_id("backup-now").click()
        page.get_by_test_id("backup-run-LOCAL").click()
        expect(page.get_by_test_id("backup-run-result")).to_contain_text("已执行 · 通话录音 3 条,语音留言 1 条")
        page.keyboard.press("Escape")
        log = page.get_by_test_id("backup-log")
        expect(log).to_contain_text(DONE["zh-CN"])
        _shot(page, "zh-CN", "backup-log-run")
        choose(page, "language", "English")
        expect(log).to_contain_text(DONE["en"])
        expect(log).to_contain_text("Done")
        # Filters: a result no entry has, then a keyword.
        choose(page, "backup-result", "Failed")
        page.get_by_test_id("backup-search").click()
        expect(log.locator("tbody tr")).to_have_count(0)
        page.get_by_test_id("backup-reset").click()
        field(page, "backup-keyword").fill("LOCAL")
        page.get_by_test_id("backup-search").click()
        expect(log.locator("tbody tr")).to_have_count(1)
        with page.expect_download() as info:
            page.get_by_test_id("backup-export").click()
        sheet = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
        rows = [[c.value for c in r] for r in sheet.iter_rows()]
        assert rows[0] == ["Time", "Result", "Description"]
        assert rows[1][1:] == ["Done", DONE["en"]] and rows[1][0].year == 2026, rows

        # Import the set back: everything is here already, nothing twice.
        page.get_by_test_id("backup-import").click()
        expect(page.get_by_test_id("backup-import-sets")).to_contain_text("rset-")
        field(page, "backup-import-passphrase").fill(PASSPHRASE)
        page.get_by_test_id("backup-import-run").click()
        expect(page.get_by_test_id("backup-import-result")).to_contain_text("4 already here")
        page.keyboard.press("Escape")
        # The same set uploaded as a .zip, as one copied off the backup disk.
        upload = folder.parent / f"{folder.name}.zip"
        shutil.make_archive(str(upload.with_suffix("")), "zip", folder)
        page.get_by_test_id("backup-import").click()
        page.get_by_test_id("backup-import-from").get_by_text("An uploaded set (.zip)").click()
        page.get_by_test_id("backup-import-file").set_input_files(str(upload))
        field(page, "backup-import-passphrase").fill(PASSPHRASE)
        page.get_by_test_id("backup-import-run").click()
        expect(page.get_by_test_id("backup-import-result")).to_contain_text("4 already here")
        _shot(page, "en", "backup-import-upload")
        page.keyboard.press("Escape")

        # Legal hold on a recording: a lock in the list, and deleting it is refused.
        page.get_by_test_id("menu-recordings").click()
        table = page.get_by_test_id("recordings")
        table.locator("tbody tr").first.locator(".el-checkbox").click()
        page.get_by_test_id("protect-selected").click()
        expect(table.locator("tbody tr").first.get_by_test_id("protected")).to_be_visible()
        table.locator("tbody tr").first.get_by_test_id("row-delete").click()
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator(".el-message--error")).to_contain_text("Protected (legal hold)")
        assert len(admin.data("{ recordings { items { id } } }")["recordings"]["items"]) == 3
    finally:
        page.context.close()


@pytest.mark.parametrize("size", ((1366, 768), (1920, 1080)), ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_backup_pages_photographed_in_every_language(site, size):
    _, _, admin, folder = site
    if not admin.data("{ backupTargets { id } }")["backupTargets"]:
        admin.data("mutation($p: String!) { setBackupPassphrase(passphrase: $p) { __typename } }", {"p": PASSPHRASE})
        admin.data("mutation($i: BackupTargetInput!) { setBackupTarget(input: $i) { __typename } }",
                   {"i": {"kind": "LOCAL", "location": str(folder)}})  # fmt: skip
        admin.data("mutation($id: ID!) { backupNow(targetId: $id) { result } }",
                   {"id": admin.data("{ backupTargets { id } }")["backupTargets"][0]["id"]})  # fmt: skip
    for locale in DONE:
        page = sign_in(site, locale, "/#/backup", size)
        try:
            expect(page.get_by_test_id("backup-log")).to_contain_text(DONE[locale])
            _shot(page, locale, "backup-log")
            if locale != "en":
                assert english_in(page, [str(folder), *PROPER]) == []
            page.get_by_test_id("backup-now").click()
            expect(page.get_by_test_id("backup-run-LOCAL")).to_be_visible()
            _shot(page, locale, "backup-now")
            page.keyboard.press("Escape")
            page.get_by_test_id("backup-import").click()
            expect(page.get_by_test_id("backup-import-sets")).to_contain_text("rset-")
            _shot(page, locale, "backup-import")
            page.get_by_test_id("backup-import-from").locator("label").nth(1).click()
            _shot(page, locale, "backup-import-upload-form")
            if locale != "en":
                assert english_in(page, [str(folder), *PROPER]) == []
            page.keyboard.press("Escape")
            page.get_by_test_id("backup-settings").click()
            expect(page.get_by_test_id("backup-targets").locator("tbody tr").first).to_be_visible()
            _shot(page, locale, "backup-settings")
            if locale != "en":
                assert english_in(page, [str(folder), *PROPER]) == []
            page.get_by_test_id("backup-target-add").click()
            choose(page, "backup-target-kind", {"zh-CN": "NAS备份", "zh-TW": "NAS備份", "en": "NAS backup"}[locale])
            _shot(page, locale, "backup-target-dialog")
            page.locator(".el-dialog:visible .el-dialog__headerbtn").click()
            page.get_by_test_id("backup-policy-add").click()
            _shot(page, locale, "backup-policy-dialog")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        finally:
            page.context.close()
