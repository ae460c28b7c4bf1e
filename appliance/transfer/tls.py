"""TLS for FTPS and HTTPS: the system's trusted authorities, or exactly one certificate
an administrator trusts by its SHA-256 fingerprint (a PBX's self-signed one)."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable

from appliance.errors import TransferFailed


def fingerprint_of(der: bytes) -> str:
    """AB:CD:… as browsers and `openssl x509 -fingerprint -sha256` print it."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def context(pinned_der: bytes | None = None) -> ssl.SSLContext:
    """Verify against the system's authorities, or against pinned_der alone (the host
    name is then not checked: the certificate itself is what is trusted)."""
    if pinned_der is None:
        return ssl.create_default_context()
    ctx = ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(pinned_der))
    ctx.check_hostname = False
    # A leaf certificate that is not self-signed may be trusted alone.
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx


def unverified() -> ssl.SSLContext:
    """Only to read a server's certificate, never to send anything over."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def pinned_context(fingerprint: str, fetch_der: Callable[[], bytes]) -> ssl.SSLContext:
    """A context trusting the server's certificate if its fingerprint is the one given.

    The certificate is read over a first connection that sends nothing; the connection
    that signs in then verifies against that certificate in its handshake, so a
    different server (or a man in the middle) fails there, before any password."""
    der = fetch_der()
    found = fingerprint_of(der)
    if found.replace(":", "").lower() != fingerprint.replace(":", "").lower():
        raise TransferFailed(
            "tls_fingerprint_mismatch",
            f"the server's certificate is {found}",
            found=found,
        )
    return context(der)


def describe(exc: ssl.SSLError, der: bytes | None) -> TransferFailed:
    """An untrusted or failed handshake, with the certificate's fingerprint if read."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransferFailed(
            "tls_untrusted",
            exc.verify_message or str(exc),
            found=fingerprint_of(der) if der else "",
        )
    return TransferFailed("tls_failed", str(exc))
