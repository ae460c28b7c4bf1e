"""First-boot provisioning: the TLS certificate, the appliance's identity, file ownership.

`recorder admin init` runs it as root before the services start; it makes only what is
missing, so an administrator's own certificate (same paths) is never replaced.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from appliance.config import identity_file
from appliance.ha.tls import self_signed

CERT_YEARS = 10
SYSTEMD_MACHINE_ID = Path("/etc/machine-id")


def share_with_group_of(path: Path, directory: Path) -> None:
    """Readable (a folder: enterable) by the group owning the configuration directory, which
    is the service user's; writable by root only."""
    if os.geteuid() == 0:
        os.chown(path, 0, directory.stat().st_gid)
    path.chmod(0o750 if path.is_dir() else 0o640)


def give_to_owner_of(directory: Path) -> None:
    """Files root just made in the data directory (the SQLite database) go to its owner,
    the service user, who must write them."""
    if os.geteuid() != 0:
        return
    owner = directory.stat()
    for path in directory.iterdir():
        if path.name != "lost+found" and path.stat().st_uid == 0 != owner.st_uid:
            os.chown(path, owner.st_uid, owner.st_gid)


def ensure_certificate(cert: Path, key: Path, hostname: str | None = None) -> bool:
    """Make a self-signed certificate for the console when none is there; True if made."""
    if cert.exists() and key.exists():
        return False
    host = hostname or socket.gethostname()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, host),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Call recorder appliance"),
        ]
    )
    alt_names: list[x509.GeneralName] = [
        x509.DNSName(host),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert_pem, key_bytes = self_signed(name, alt_names, years=CERT_YEARS, anchor=False)
    if not cert.parent.exists():
        cert.parent.mkdir(parents=True)
        share_with_group_of(cert.parent, cert.parent.parent)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_bytes)
    cert.write_bytes(cert_pem)
    for path in (cert, key):
        share_with_group_of(path, cert.parent.parent)
    return True


def ensure_identity(config_dir: Path) -> str:
    """The appliance's identity, kept with the configuration so upgrades keep it."""
    path = identity_file(config_dir)
    if path.exists():
        return path.read_text().strip()
    made = ""
    if SYSTEMD_MACHINE_ID.is_file():
        made = SYSTEMD_MACHINE_ID.read_text().strip()
    if len(made) != 32 or made == "uninitialized":
        made = uuid.uuid4().hex
    config_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(made + "\n")
    share_with_group_of(path, config_dir)
    return made
