"""mibs/RECORDER-MIB.txt passes smilint at level 3, net-snmp loads it with the base modules
we ship, and its identifiers are the ones the agent and the notifications use."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from appliance.monitor.snmp import oids
from tests.support.snmp import MIBS, tool_env

pytestmark = pytest.mark.skipif(not shutil.which("smilint") or not shutil.which("snmptranslate"),
                                reason="smitools and snmp are not installed (make apt-test)")


def _translate(name: str) -> str:
    done = subprocess.run(["snmptranslate", "-M", str(MIBS), "-m", "RECORDER-MIB:SNMPv2-MIB", "-On", name],
                          env=tool_env(), capture_output=True, text=True)
    # net-snmp says once that it made its state folder; anything else is a loading problem.
    complaints = [line for line in done.stderr.splitlines() if not line.startswith("Created directory")]
    assert done.returncode == 0 and not complaints, done.stderr
    return done.stdout.strip()


def test_smilint_level_3_reports_nothing():
    env = {**os.environ, "SMIPATH": str(MIBS)}
    for module in ("RECORDER-MIB", "SNMPv2-MIB", "SNMPv2-CONF"):
        done = subprocess.run(["smilint", "-l", "3", str(MIBS / f"{module}.txt")], env=env, capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout == "" and done.stderr == "", (module, done.stdout, done.stderr)


def _dotted(oid: tuple[int, ...]) -> str:
    return "." + ".".join(map(str, oid))


def test_the_mibs_names_are_the_codes_identifiers():
    assert _translate("RECORDER-MIB::recorderMIB") == _dotted(oids.RECORDER_MIB)
    assert _translate("RECORDER-MIB::recorderAlarmRaised") == _dotted(oids.ALARM_RAISED)
    assert _translate("RECORDER-MIB::recorderAlarmCleared") == _dotted(oids.ALARM_CLEARED)
    assert _translate("RECORDER-MIB::recorderTestNotification") == _dotted(oids.TEST_NOTIFICATION)
    metrics = {
        "recorderCpuPercent": oids.CPU, "recorderMemoryPercent": oids.MEMORY, "recorderDiskPercent": oids.DISK,
        "recorderActiveCalls": oids.ACTIVE_CALLS, "recorderCallsSetUpLastMinute": oids.SETUPS,
        "recorderCallsRefusedLastMinute": oids.REFUSED, "recorderRtpPacketsPerSecond": oids.PACKETS_PER_S,
        "recorderRtpPackets": oids.PACKETS, "recorderKernelDrops": oids.DROPS,
        "recorderRecordingsToday": oids.RECORDINGS_TODAY, "recorderSpoolKBytes": oids.SPOOL_KBYTES,
        "recorderLastRecordingAge": oids.LAST_RECORDING_AGE,
    }
    for name, number in metrics.items():
        assert _translate(f"RECORDER-MIB::{name}") == _dotted((*oids.METRICS, number)), name
    columns = {
        "recorderAlarmEvent": oids.ALARM_EVENT, "recorderAlarmLevel": oids.ALARM_LEVEL,
        "recorderAlarmValue": oids.ALARM_VALUE, "recorderAlarmThreshold": oids.ALARM_THRESHOLD,
        "recorderAlarmText": oids.ALARM_TEXT, "recorderAlarmRaisedTime": oids.ALARM_RAISED_TIME,
    }
    for name, number in columns.items():
        assert _translate(f"RECORDER-MIB::{name}") == _dotted((*oids.ALARM_ENTRY, number)), name
    assert _translate("RECORDER-MIB::recorderServiceState") == _dotted((*oids.SERVICE_ENTRY, oids.SERVICE_STATE))
    assert _translate("SNMPv2-MIB::sysUpTime") == _dotted((*oids.SYSTEM, oids.SYS_UPTIME))


def test_the_enumerations_match_the_codes_numbers():
    described = subprocess.run(["snmptranslate", "-M", str(MIBS), "-m", "RECORDER-MIB", "-Td", "RECORDER-MIB::recorderAlarmEvent"],
                               env=tool_env(), capture_output=True, text=True).stdout
    for event, number in oids.EVENT_NUMBERS.items():
        camel = "".join(w.capitalize() for w in event.value.lower().split("_"))
        assert f"{camel[0].lower()}{camel[1:]}({number})" in described, (event, described)
