"""The object identifiers of mibs/RECORDER-MIB.txt and the SNMPv2-MIB objects we answer."""

from __future__ import annotations

from appliance.domain.alarms import AlarmEvent, AlarmLevel
from appliance.domain.metrics import ServiceState

# Under NET-SNMP's experimental arc until the project has its own enterprise number: moving
# means changing this one prefix and the MIB's MODULE-IDENTITY (see mibs/README.md).
RECORDER_MIB = (1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 7)
NOTIFICATIONS = (*RECORDER_MIB, 0)
ALARM_RAISED = (*NOTIFICATIONS, 1)
ALARM_CLEARED = (*NOTIFICATIONS, 2)
TEST_NOTIFICATION = (*NOTIFICATIONS, 3)
METRICS = (*RECORDER_MIB, 1, 1)
SERVICE_ENTRY = (*RECORDER_MIB, 1, 2, 1)
ALARM_ENTRY = (*RECORDER_MIB, 1, 3, 1)

# recorderMetrics.N
CPU, MEMORY, DISK, ACTIVE_CALLS, SETUPS, REFUSED, PACKETS_PER_S = 1, 2, 3, 4, 5, 6, 7
PACKETS, DROPS, RECORDINGS_TODAY, SPOOL_KBYTES, LAST_RECORDING_AGE = 8, 9, 10, 11, 12
# recorderServiceEntry.N and recorderAlarmEntry.N
SERVICE_NAME, SERVICE_STATE = 2, 3
ALARM_EVENT, ALARM_LEVEL, ALARM_VALUE, ALARM_THRESHOLD, ALARM_TEXT, ALARM_RAISED_TIME = (
    2,
    3,
    4,
    5,
    6,
    7,
)

EVENT_NUMBERS = {event: n for n, event in enumerate(AlarmEvent, start=1)}
LEVEL_NUMBERS = {AlarmLevel.LOW: 1, AlarmLevel.MEDIUM: 2, AlarmLevel.HIGH: 3}
STATE_NUMBERS = {ServiceState.RUNNING: 1, ServiceState.STOPPED: 2, ServiceState.ABORTED: 3}

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_CONTACT, SYS_NAME, SYS_LOCATION, SYS_SERVICES = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
)
