"""Recording sources (manual 4.1): push devices and pull ("组网") devices."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

from appliance.domain.rules import check_range
from appliance.errors import InvalidInput


class DeviceMode(StrEnum):
    PUSH = "PUSH"
    PULL = "PULL"


class PullProtocol(StrEnum):
    FTP = "FTP"
    FTPS = "FTPS"
    SFTP = "SFTP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"


class IntervalUnit(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
ALIAS_MAX = 64
SECRET_MIN, SECRET_MAX = 4, 64
PULLBACK_HOURS = (1, 240)
PULL_INTERVAL = (1, 10)
PULL_PATH_MAX, PULL_USERNAME_MAX = 255, 64
_ALIAS = re.compile(r"^[^\s:/\\]+$")


def host_of(address: str) -> str:
    """The host part of a device address ("10.0.0.5:5060" -> "10.0.0.5")."""
    address = address.strip()
    if address.startswith("[") and "]" in address:
        return address[1 : address.index("]")]
    return address.rpartition(":")[0] if address.count(":") == 1 else address


def check_address(field: str, value: str, *, required: bool = True) -> str:
    """An IP address or a domain name, optionally with :port."""
    value = value.strip()
    if not value:
        if required:
            raise InvalidInput(f"{field} is required", field=field, code="required")
        return value
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        raise InvalidInput(
            f"{field}: port must be 1-65535",
            field=field,
            code="out_of_range",
            params={"min": 1, "max": 65535, "value": port},
        )
    try:
        ipaddress.ip_address(host)
        return value
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    # A name whose last label is all digits is a mistyped address (999.1.1.1), not a domain.
    if (
        len(host) > 253
        or not all(_HOST_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidInput(f"{field}: {value!r} is neither an IP address nor a domain", field=field)
    return value


def check_host(field: str, value: str) -> str:
    """An IP address or a host name, without a port (it has a field of its own)."""
    value = value.strip()
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if ":" in value:
        raise InvalidInput(
            f"{field}: give the port in its own field", field=field, code="invalid_format"
        )
    return check_address(field, value)


@dataclass(frozen=True)
class DeviceSpec:
    alias: str
    mode: DeviceMode
    address: str
    secret: str
    cache_address: str = ""
    pullback_hours: int = 1
    pull_protocol: PullProtocol | None = None
    pull_path: str = ""
    pull_username: str = ""
    pull_interval: int = 1
    pull_interval_unit: IntervalUnit = IntervalUnit.DAY

    def validate(self) -> DeviceSpec:
        if not self.alias:
            raise InvalidInput("alias is required", field="alias", code="required")
        if len(self.alias) > ALIAS_MAX or not _ALIAS.match(self.alias):
            raise InvalidInput(
                f"alias: 1-{ALIAS_MAX} characters without spaces, ':' or '/'",
                field="alias",
                params={"max": ALIAS_MAX},
            )
        check_address("address", self.address)
        check_address("cache_address", self.cache_address, required=False)
        if not SECRET_MIN <= len(self.secret) <= SECRET_MAX:
            raise InvalidInput(
                f"secret: {SECRET_MIN} to {SECRET_MAX} characters",
                field="secret",
                code="too_short" if len(self.secret) < SECRET_MIN else "too_long",
                params={"min": SECRET_MIN, "max": SECRET_MAX},
            )
        check_range("pullback_hours", self.pullback_hours, *PULLBACK_HOURS)
        check_range("pull_interval", self.pull_interval, *PULL_INTERVAL)
        if self.mode is DeviceMode.PULL and self.pull_protocol is None:
            raise InvalidInput(
                "a pull device needs a protocol", field="pull_protocol", code="required"
            )
        for name, limit in (("pull_path", PULL_PATH_MAX), ("pull_username", PULL_USERNAME_MAX)):
            if len(getattr(self, name)) > limit:
                raise InvalidInput(
                    f"{name}: at most {limit} characters",
                    field=name,
                    code="too_long",
                    params={"max": limit},
                )
        return self
