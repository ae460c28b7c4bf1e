"""The pair's own certificates and TLS contexts: each side makes a key and a self-signed
certificate once; after pairing each trusts exactly the other's certificate (pinned), so
nothing passes between them in clear or to a third party."""

from __future__ import annotations

import hashlib
import os
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.errors import IntegrityError

_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def fingerprint(cert_der: bytes) -> str:
    return hashlib.sha256(cert_der).hexdigest()


def der_of(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def self_signed(
    name: x509.Name, alt_names: list[x509.GeneralName], *, years: int, anchor: bool
) -> tuple[bytes, bytes]:
    """A P-256 key and a self-signed certificate for it (PEM, PEM): the console's HTTPS
    certificate, and each side's pair certificate (`anchor`: usable as its own CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    constraints = (
        x509.BasicConstraints(ca=True, path_length=0)
        if anchor
        else x509.BasicConstraints(ca=False, path_length=None)
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * years))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(constraints, critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class NodeIdentity:
    """This appliance's pair certificate and key, under data_dir/ha (the key 0600)."""

    def __init__(self, directory: Path) -> None:
        self.cert_path = directory / "node.pem"
        self.key_path = directory / "node.key"
        if not self.cert_path.exists() or not self.key_path.exists():
            self._make(directory)
        self.cert_pem = self.cert_path.read_text(encoding="ascii")
        self.fingerprint = fingerprint(der_of(self.cert_pem))

    def _make(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Its own trust anchor: the peer pins exactly this certificate.
        cert, key = self_signed(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recorder-ha")]),
            [x509.DNSName("recorder-ha")],
            years=30,
            anchor=True,
        )
        tmp = self.key_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        os.replace(tmp, self.key_path)
        self.cert_path.write_bytes(cert)

    def _base(self, purpose: int) -> ssl.SSLContext:
        ctx = ssl.SSLContext(purpose)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(_CIPHERS)
        ctx.check_hostname = False
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return ctx

    def server_context(self, peer_pem: str) -> ssl.SSLContext:
        """Clients with the pinned peer's certificate are the peer; clients with none may
        only ask to pair; clients with any other certificate fail the handshake."""
        ctx = self._base(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        if peer_pem:
            ctx.load_verify_locations(cadata=peer_pem)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        else:
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def client_context(self, peer_pem: str) -> ssl.SSLContext:
        """To the pinned peer with our certificate; before pairing (no peer yet) without
        one and without verification: the pairing proofs bind the certificate seen."""
        ctx = self._base(ssl.PROTOCOL_TLS_CLIENT)
        if peer_pem:
            ctx.load_cert_chain(self.cert_path, self.key_path)
            ctx.load_verify_locations(cadata=peer_pem)
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def peer_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes | None:
    if ssl_object is None:
        return None
    return ssl_object.getpeercert(binary_form=True)


def require_pinned(seen: bytes | None, peer_pem: str) -> None:
    """Belt and braces over the handshake's own check: exactly the pinned certificate."""
    if not peer_pem or seen is None or fingerprint(seen) != fingerprint(der_of(peer_pem)):
        raise IntegrityError("the peer's certificate is not the one paired with")


def pem_of(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
