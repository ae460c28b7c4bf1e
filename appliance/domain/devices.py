"""Recording sources (manual 4.1): push devices and pull ("组网") devices."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from appliance.domain.pull import AfterFetch, NamePattern, PullAuth, unsafe_name
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
FINGERPRINT_MAX = 128
DEFAULT_PORTS = {
    PullProtocol.FTP: 21,
    PullProtocol.FTPS: 21,
    PullProtocol.SFTP: 22,
    PullProtocol.HTTP: 80,
    PullProtocol.HTTPS: 443,
}
_SCHEMES = {
    "ftp": PullProtocol.FTP,
    "ftps": PullProtocol.FTPS,
    "ftpes": PullProtocol.FTPS,
    "sftp": PullProtocol.SFTP,
    "http": PullProtocol.HTTP,
    "https": PullProtocol.HTTPS,
}
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
class PullEndpoint:
    """Where a pull device's files are: its address (host, host:port or URL) and folder."""

    protocol: PullProtocol
    host: str
    port: int
    root: str  # the folder the layouts are found under, "/"-joined; "" is the login folder

    @classmethod
    def parse(cls, protocol: PullProtocol, address: str, folder: str) -> PullEndpoint:
        address = address.strip()
        base = ""
        if "://" in address:
            url = urlsplit(address)
            if _SCHEMES.get(url.scheme.lower()) is not protocol:
                raise InvalidInput(
                    f"address: a {protocol.value} device's URL starts with"
                    f" {protocol.value.lower()}://",
                    field="address",
                    code="scheme_mismatch",
                    params={"value": url.scheme, "expected": protocol.value.lower()},
                )
            if url.username or url.password or url.query or url.fragment:
                raise InvalidInput(
                    "address: give the user and password in their own fields",
                    field="address",
                    code="invalid_format",
                )
            hostport = url.netloc
            base = unquote(url.path)
        else:
            hostport = address
        if hostport.startswith("[") and "]" in hostport:  # [IPv6] or [IPv6]:port
            host, _, port_text = hostport[1:].partition("]")
            port_text = port_text.removeprefix(":")
            check_address("address", host)
            check_address("address", f"127.0.0.1:{port_text}" if port_text else "127.0.0.1")
        else:
            check_address("address", hostport)
            host = host_of(hostport)
            port_text = hostport.rpartition(":")[2] if hostport.count(":") == 1 else ""
        port = int(port_text) if port_text else DEFAULT_PORTS[protocol]
        return cls(protocol, host, port, _folder(base, folder))


def _folder(base: str, folder: str) -> str:
    """The URL's path and the pull path joined (an absolute pull path stands alone)."""
    path = folder.strip() if folder.strip().startswith("/") else f"{base}/{folder.strip()}"
    absolute = path.startswith("/") and bool(folder.strip().startswith("/") or base)
    parts = [p for p in path.split("/") if p]
    for part in parts:
        if unsafe_name(part):
            raise InvalidInput(
                "pull_path: a folder without '..', '\\' or control characters",
                field="pull_path",
                code="invalid_format",
            )
    return ("/" if absolute else "") + "/".join(parts)


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
    pull_auth: PullAuth = PullAuth.PASSWORD
    pull_pattern: str = ""  # the device's own file naming, for PBXs no layout knows
    pull_after: AfterFetch = AfterFetch.KEEP
    pull_move_to: str = ""  # with MOVE: a folder below the device's, e.g. "fetched"
    pull_tls_fingerprint: str = ""  # trust this one certificate (self-signed PBXs)

    def endpoint(self) -> PullEndpoint:
        assert self.pull_protocol is not None
        return PullEndpoint.parse(self.pull_protocol, self.address, self.pull_path)

    def validate(self) -> DeviceSpec:
        if not self.alias:
            raise InvalidInput("alias is required", field="alias", code="required")
        if len(self.alias) > ALIAS_MAX or not _ALIAS.match(self.alias):
            raise InvalidInput(
                f"alias: 1-{ALIAS_MAX} characters without spaces, ':' or '/'",
                field="alias",
                params={"max": ALIAS_MAX},
            )
        if self.mode is DeviceMode.PULL and self.pull_protocol is not None:
            self.endpoint()
        else:
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
        if self.mode is DeviceMode.PULL:
            self._validate_pull()
        return self

    def _validate_pull(self) -> None:
        if self.pull_pattern:
            NamePattern.parse(self.pull_pattern)
        web = self.pull_protocol in (PullProtocol.HTTP, PullProtocol.HTTPS)
        if web and self.pull_after is not AfterFetch.KEEP:
            raise InvalidInput(
                "pull_after: a web server's index can neither delete nor move files",
                field="pull_after",
                code="not_supported",
            )
        if self.pull_after is AfterFetch.MOVE:
            parts = [p for p in self.pull_move_to.split("/") if p]
            if not parts or any(unsafe_name(p) for p in parts) or len(self.pull_move_to) > 255:
                raise InvalidInput(
                    "pull_move_to: a folder below the device's folder",
                    field="pull_move_to",
                    code="required" if not parts else "invalid_format",
                )
        if self.pull_auth is PullAuth.KEY and self.pull_protocol is not PullProtocol.SFTP:
            raise InvalidInput(
                "pull_auth: only SFTP signs in with a key", field="pull_auth", code="invalid"
            )
        if len(self.pull_tls_fingerprint) > FINGERPRINT_MAX or not re.fullmatch(
            r"[0-9A-Fa-f:]*", self.pull_tls_fingerprint
        ):
            raise InvalidInput(
                "pull_tls_fingerprint: a SHA-256 fingerprint in hexadecimal",
                field="pull_tls_fingerprint",
            )
        if self.pull_tls_fingerprint and len(normal_fingerprint(self.pull_tls_fingerprint)) != 64:
            raise InvalidInput(
                "pull_tls_fingerprint: a SHA-256 fingerprint has 64 hexadecimal digits",
                field="pull_tls_fingerprint",
            )


def normal_fingerprint(text: str) -> str:
    """AB:CD:… or abcd… as 64 lower-case hex digits."""
    return text.replace(":", "").strip().lower()
