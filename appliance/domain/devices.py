"""Recording sources (manual 4.1): push devices and pull ("组网") devices."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

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
_ALIAS = re.compile(r"^[^\s:/\\]{1,64}$")


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
            raise InvalidInput(f"{field} is required", field=field)
        return value
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        raise InvalidInput(f"{field}: port must be 1-65535", field=field)
    try:
        ipaddress.ip_address(host)
        return value
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise InvalidInput(f"{field}: {value!r} is neither an IP address nor a domain", field=field)
    return value


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
        if not _ALIAS.match(self.alias):
            raise InvalidInput("alias: 1-64 characters without spaces, ':' or '/'", field="alias")
        check_address("address", self.address)
        check_address("cacheAddress", self.cache_address, required=False)
        if not 4 <= len(self.secret) <= 64:
            raise InvalidInput("secret: 4 to 64 characters", field="secret")
        if not 1 <= self.pullback_hours <= 240:
            raise InvalidInput("pullbackHours must be between 1 and 240", field="pullbackHours")
        if not 1 <= self.pull_interval <= 10:
            raise InvalidInput("pullInterval must be between 1 and 10", field="pullInterval")
        if self.mode is DeviceMode.PULL and self.pull_protocol is None:
            raise InvalidInput("a pull device needs a protocol", field="pullProtocol")
        if len(self.pull_path) > 255 or len(self.pull_username) > 64:
            raise InvalidInput("pullPath or pullUsername is too long", field="pullPath")
        return self
