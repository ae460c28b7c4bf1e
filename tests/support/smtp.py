"""A real SMTP server on 127.0.0.1 (aiosmtpd): STARTTLS or implicit TLS, AUTH PLAIN and LOGIN,
with a certificate from a test CA the appliance is told to trust (SSL_CERT_FILE)."""

from __future__ import annotations

import datetime
import ssl
import tempfile
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.ports import free_port

USER, PASSWORD = "alarm@example.com", "Mail-Pass-2024"


class CertificateAuthority:
    """A CA and a certificate for 127.0.0.1 it signed, as PEM files."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="recorder-ca-"))
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recorder test CA")])
        ca = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        import ipaddress

        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = self.root / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.cert_file = self.root / "cert.pem"
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file = self.root / "key.pem"
        self.key_file.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"


# Every password any test server was offered: a server must never see one not meant for it.
OFFERED: list[bytes] = []


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    if isinstance(auth_data, LoginPassword):
        OFFERED.append(auth_data.password)
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(), PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


class MailServer:
    """`security`: STARTTLS or TLS (implicit); AUTH required, after TLS."""

    def __init__(self, ca: CertificateAuthority, security: str) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        context = ca.server_context()
        options: dict[str, Any] = dict(
            hostname="127.0.0.1", port=self.port, authenticator=_authenticate, auth_required=True,
        )
        if security == "TLS":
            options["ssl_context"] = context
            options["auth_require_tls"] = False  # the whole connection is TLS already
        else:
            options["tls_context"] = context
            options["require_starttls"] = True
        self.controller = Controller(self.inbox, **options)

    def start(self) -> MailServer:
        # aiosmtpd's readiness check speaks plain SMTP, which an implicit-TLS port cannot
        # answer: wait for the port ourselves.
        self.controller.ready_timeout = 10
        try:
            self.controller.start()
        except TimeoutError:
            pass
        return self

    def stop(self) -> None:
        self.controller.stop(no_assert=True)

    def wait_for(self, count: int = 1, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.inbox.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.inbox.messages)} of {count} mails arrived"
            time.sleep(0.1)
        return self.inbox.messages
