"""The appliance image boots under SeaBIOS and OVMF and serves a person end to end.

Runs when RECORDER_TEST_IMAGE names a built image (`make test-image`, part of `make test`).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.audio import tone_pcm, wav_bytes
from tests.support.server import first_login
from tests.support.sip import request, tcp_exchange
from tests.support.vm import BootedImage

IMAGE = os.environ.get("RECORDER_TEST_IMAGE")
pytestmark = pytest.mark.skipif(not IMAGE, reason="RECORDER_TEST_IMAGE is not set (make test-image)")

UNITS = ["recorder-init", "recorder-api", "recorder-capture", "recorder-scheduler", "recorder-monitor", "recorder-failover"]
ALARMS = "query($e: AlarmEvent) { alarms(filter: {event: $e}) { items { id state subject params } } }"
SEARCH = """query($c: String) { recordings(filter: {caller: $c}) {
  total items { id sn caller callee duration audioUrl } } }"""


DISK_GIB = 6


@pytest.fixture(scope="module", params=["bios", "uefi"])
def vm(request):
    # Under UEFI the virtual disk is bigger than the image, as a flashed server's is.
    booted = BootedImage(Path(IMAGE), request.param, DISK_GIB if request.param == "uefi" else None)
    try:
        booted.start()
        # The documented switch for automated clients: a test cannot read the captcha.
        toggle = "echo 'login_captcha = false' >> /etc/recorder/recorder.toml"
        assert booted.agent.run("/bin/sh", "-c", toggle).code == 0
        assert booted.agent.run("/bin/systemctl", "restart", "recorder-api.service", timeout=180).code == 0
        booted.wait_serving()
        yield booted
    finally:
        booted.stop()


def _main_pid(vm: BootedImage, unit: str) -> int:
    return int(vm.agent.run("/bin/systemctl", "show", "-P", "MainPID", f"{unit}.service").out.strip())


def _restarted(vm: BootedImage, unit: str, old_pid: int, timeout: float = 120) -> int:
    """The unit's new main process, once systemd has replaced old_pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _main_pid(vm, unit) in (old_pid, 0):
        time.sleep(1)
    new_pid = _main_pid(vm, unit)
    assert new_pid not in (old_pid, 0), f"{unit} was not restarted"
    return new_pid


def test_every_recorder_unit_is_active_and_none_failed(vm):
    for unit in UNITS:
        state = vm.agent.run("/bin/systemctl", "is-active", f"{unit}.service").out.strip()
        assert state == "active", (unit, state, vm.agent.run("/bin/journalctl", "-u", unit, "-n", "30").out)
    failed = vm.agent.run("/bin/systemctl", "list-units", "--failed", "--no-legend", "--plain").out
    assert failed.strip() == "", failed


def test_first_boot_made_keys_certificate_and_identity_on_the_config_partition(vm):
    listing = vm.agent.run("/bin/ls", "-ln", "/etc/recorder", "/etc/recorder/tls").out
    for name in ("master.key", "machine-id", "recorder.toml", "cert.pem", "key.pem"):
        assert name in listing, listing
    mounts = vm.agent.run("/bin/findmnt", "-rno", "TARGET,SOURCE,FSTYPE").out
    assert "/etc/recorder" in mounts and "/var/lib/recorder" in mounts, mounts
    # The key is on another file system than the data it protects.
    key_fs = vm.agent.run("/bin/findmnt", "-no", "SOURCE", "-T", "/etc/recorder/master.key").out
    data_fs = vm.agent.run("/bin/findmnt", "-no", "SOURCE", "-T", "/var/lib/recorder").out
    assert key_fs.strip() and key_fs != data_fs


def test_data_partition_grows_to_fill_a_bigger_disk(vm):
    if vm.disk_gib is None:
        pytest.skip("this boot's disk is the image's own size")
    size = vm.agent.run("/bin/findmnt", "-bno", "SIZE", "/var/lib/recorder").out.strip()
    assert int(size) > (DISK_GIB - 2.5) * 2**30, size


def test_console_login_upload_search_play(vm):
    page = httpx.get(vm.url + "/", follow_redirects=True, timeout=30)
    assert page.status_code == 200 and "<html" in page.text.lower()
    # The console over HTTPS too, with the certificate made at first boot.
    assert httpx.get(vm.https_url + "/health", verify=False, timeout=30).status_code == 200
    admin = first_login(vm.url)
    alias = f"gw-{uuid.uuid4().hex[:6]}"
    device = admin.data(
        """mutation($i: DeviceInput!) { createDevice(input: $i) { __typename ... on Device { id } } }""",
        {"i": {"alias": alias, "address": "192.0.2.10", "secret": "dev-secret-1", "mode": "PUSH"}},
    )["createDevice"]
    assert device["__typename"] == "Device"
    caller = str(uuid.uuid4().int % 10**8)
    audio = wav_bytes(tone_pcm(3.0), 8000)
    upload = httpx.post(
        vm.url + "/api/v1/recordings",
        data={"call_id": uuid.uuid4().hex, "caller": caller, "callee": "2002",
              "started_at": "2024-05-01T09:30:00+00:00"},
        files={"audio": ("call.wav", audio, "audio/wav")},
        auth=(alias, "dev-secret-1"), timeout=120,
    )
    assert upload.status_code == 201, upload.text
    found = admin.data(SEARCH, {"c": caller})["recordings"]
    assert found["total"] == 1 and found["items"][0]["duration"] == 3
    played = admin.http.get(found["items"][0]["audioUrl"] + "?format=wav", timeout=120)
    assert played.status_code == 200
    assert len(played.content) == 44 + 3 * 8000 * 2  # 3 s of 8 kHz 16-bit mono, sample-exact


def test_sip_answers_on_the_forwarded_port(vm):
    assert tcp_exchange(vm.sip_port, request("OPTIONS"), timeout=30)[0].status == 200


def test_sigkill_of_the_api_is_restarted_by_systemd(vm):
    if vm.firmware != "bios":
        pytest.skip("once is enough: the restart is the same under either firmware")
    before = _main_pid(vm, "recorder-api")
    assert vm.agent.run("/bin/kill", "-KILL", str(before)).code == 0
    _restarted(vm, "recorder-api", before)
    vm.wait_serving()
    restarts = vm.agent.run("/bin/systemctl", "show", "-P", "NRestarts", "recorder-api.service").out
    assert int(restarts) >= 1
    # The monitor raised SERVICE_ABORTED for the killed process and cleared it once systemd
    # had it running again.
    admin = _admin(vm)
    alarm = _wait_alarm(admin, "SERVICE_ABORTED", lambda a: a["params"].get("pid") == before and a["state"] == "CLEARED")
    assert alarm["subject"] == "api"


def _admin(vm: BootedImage):
    from tests.support.server import ADMIN_PASSWORD, Client

    admin = Client(vm.url)
    if admin.login("admin", ADMIN_PASSWORD)["__typename"] != "LoginSuccess":
        admin = first_login(vm.url)
    return admin


def _wait_alarm(admin, event: str, accept, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = [a for a in admin.data(ALARMS, {"e": event})["alarms"]["items"] if accept(a)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, admin.data(ALARMS, {"e": event})
        time.sleep(2)


def test_sigkill_of_the_capture_raises_capture_aborted(vm):
    if vm.firmware != "bios":
        pytest.skip("once is enough: the restart is the same under either firmware")
    admin = _admin(vm)
    before = _main_pid(vm, "recorder-capture")
    assert vm.agent.run("/bin/kill", "-KILL", str(before)).code == 0
    _restarted(vm, "recorder-capture", before)
    alarm = _wait_alarm(admin, "CAPTURE_ABORTED", lambda a: a["params"].get("pid") == before and a["state"] == "CLEARED")
    assert alarm["subject"] == "capture"


def test_the_snmp_agent_answers_inside_the_guest_with_the_mib_installed(vm):
    admin = _admin(vm)
    listing = vm.agent.run("/bin/ls", "/usr/share/snmp/mibs").out
    for name in ("RECORDER-MIB.txt", "SNMPv2-SMI.txt", "SNMPv2-TC.txt", "SNMPv2-CONF.txt", "SNMPv2-MIB.txt"):
        assert name in listing, listing
    # Port 161, as a NOC expects: the monitor's unit may bind it.
    turned_on = admin.data(
        "mutation($i: SnmpAgentInput!) { updateSnmpAgent(input: $i) { __typename } }",
        {"i": {"enabled": True, "host": "127.0.0.1", "port": 161, "community": "image-community",
               "v3Users": [{"user": "noc", "authProtocol": "SHA256", "authKey": "image-auth-1",
                            "privProtocol": "AES128", "privKey": "image-priv-1"}]}},
    )
    assert turned_on["updateSnmpAgent"]["__typename"] == "AlarmSettings"
    # slirp drops UDP answers to the host: the guest asks itself, through the guest agent.
    v3 = ["-v3", "-l", "authPriv", "-u", "noc", "-a", "SHA-256", "-A", "image-auth-1", "-x", "AES", "-X", "image-priv-1"]
    deadline = time.monotonic() + 60
    while True:
        got = vm.agent.run("/usr/bin/snmpget", "-m", "RECORDER-MIB:SNMPv2-MIB", *v3, "127.0.0.1",
                           "SNMPv2-MIB::sysName.0", "RECORDER-MIB::recorderCpuPercent.0")
        if got.code == 0:
            break
        assert time.monotonic() < deadline, (got.out, vm.agent.run("/bin/journalctl", "-u", "recorder-monitor", "-n", "30").out)
        time.sleep(2)
    assert "SNMPv2-MIB::sysName.0 = STRING: recorder" in got.out, got.out
    assert "RECORDER-MIB::recorderCpuPercent.0 = Gauge32:" in got.out, got.out
    walk = vm.agent.run("/usr/bin/snmpwalk", "-m", "RECORDER-MIB:SNMPv2-MIB", "-v2c", "-c", "image-community",
                        "127.0.0.1", "RECORDER-MIB::recorderServiceState")
    assert walk.out.count("running(1)") == 5, walk.out


def test_a_hung_event_loop_is_restarted_by_the_watchdog(vm):
    if vm.firmware != "bios":
        pytest.skip("once is enough: the watchdog is the same under either firmware")
    # A shorter watchdog for this boot only (/run), so the test waits seconds, not a minute.
    dropin = "/run/systemd/system/recorder-scheduler.service.d"
    assert vm.agent.run("/bin/mkdir", "-p", dropin).code == 0
    conf = "[Service]\\nWatchdogSec=6\\nTimeoutAbortSec=5\\n"
    assert vm.agent.run("/bin/sh", "-c", f"printf '{conf}' > {dropin}/watchdog.conf").code == 0
    assert vm.agent.run("/bin/systemctl", "daemon-reload").code == 0
    assert vm.agent.run("/bin/systemctl", "restart", "recorder-scheduler.service", timeout=180).code == 0
    hung = _main_pid(vm, "recorder-scheduler")
    # SIGSTOP freezes the process like a loop stuck in a call: no more WATCHDOG=1.
    assert vm.agent.run("/bin/kill", "-STOP", str(hung)).code == 0
    _restarted(vm, "recorder-scheduler", hung)
    journal = vm.agent.run("/bin/journalctl", "-u", "recorder-scheduler.service", "--no-pager").out
    assert "Watchdog timeout" in journal, journal[-2000:]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = vm.agent.run("/bin/systemctl", "is-active", "recorder-scheduler.service").out.strip()
        if state == "active":
            break
        time.sleep(1)
    assert state == "active"

