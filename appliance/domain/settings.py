"""The administrator's recording settings (manual 4.1, "录音设置") and their validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from enum import Enum, StrEnum
from typing import Any

from appliance.domain.rules import check_range
from appliance.domain.schedule import time_zone
from appliance.errors import InvalidInput


class FileFormat(StrEnum):
    MP3 = "MP3"
    WAV = "WAV"


class ChannelMode(StrEnum):
    MONO = "MONO"
    STEREO = "STEREO"


class UnknownSourcePolicy(StrEnum):
    REJECT = "REJECT"
    AUTO_REGISTER = "AUTO_REGISTER"


# Each number's allowed range; rtp_port_max's lower end is rtp_port_min + 1.
RANGES: dict[str, tuple[int, int]] = {
    "log_level": (1, 5),
    "sip_port": (1024, 65535),
    "log_retention_days": (1, 3650),
    "mixing_gain": (1, 10),
    "disk_usage_limit": (1, 99),
    "rtp_port_min": (1024, 65534),
    "rtp_port_max": (1025, 65535),
    "rtp_timeout_seconds": (5, 3600),
}


@dataclass(frozen=True)
class Settings:
    file_format: FileFormat = FileFormat.MP3
    log_level: int = 3
    sip_port: int = 1311
    log_retention_days: int = 10
    mixing_gain: int = 1
    channel_mode: ChannelMode = ChannelMode.MONO
    encryption: bool = True
    show_zero_duration: bool = True
    disk_usage_limit: int = 90
    unknown_push_source: UnknownSourcePolicy = UnknownSourcePolicy.REJECT
    rtp_port_min: int = 20000
    rtp_port_max: int = 29999
    rtp_timeout_seconds: int = 30  # a call whose streams all stay silent this long ends
    # The appliance's IANA zone: SNs, file names, report cells and schedules. Unsaved, it is
    # the system's (the settings service supplies it); UTC only when that is unknown.
    time_zone: str = "UTC"

    def validate(self) -> Settings:
        for name, (low, high) in RANGES.items():
            if name == "rtp_port_max":
                low = max(low, self.rtp_port_min + 1)
            check_range(name, getattr(self, name), low, high)
        time_zone(self.time_zone, field="time_zone")
        if self.rtp_port_min <= self.sip_port <= self.rtp_port_max:
            low, high = RANGES["sip_port"]
            raise InvalidInput(
                "sip_port must lie outside the RTP port range",
                field="sip_port",
                code="overlaps_range",
                params={
                    "min": self.rtp_port_min,
                    "max": self.rtp_port_max,
                    "value": self.sip_port,
                    "low": low,
                    "high": high,
                },
            )
        return self

    def to_store(self) -> dict[str, str]:
        """Flatten to the key/value strings the database keeps."""
        out: dict[str, str] = {}
        for key, value in asdict(self).items():
            if isinstance(value, Enum):
                out[key] = value.value
            elif isinstance(value, bool):
                out[key] = "1" if value else "0"
            else:
                out[key] = str(value)
        return out

    @classmethod
    def from_store(cls, stored: dict[str, str]) -> Settings:
        """Rebuild from stored strings; unknown or unreadable keys fall back to defaults."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in stored:
                continue
            raw = stored[f.name]
            default = f.default
            try:
                if isinstance(default, Enum):
                    values[f.name] = type(default)(raw)
                elif isinstance(default, bool):
                    values[f.name] = raw == "1"
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, str):
                    values[f.name] = raw
            except ValueError:
                continue
        return cls(**values)

    def changed(self, **changes: Any) -> Settings:
        return replace(self, **changes).validate()

    def diff(self, other: Settings) -> dict[str, tuple[str, str]]:
        """Keys whose stored values differ, as (old, new), for the audit trail."""
        mine, theirs = self.to_store(), other.to_store()
        return {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
