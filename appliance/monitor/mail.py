"""Sending alarm mail over SMTP (smtplib), and the server's refusals in plain words.

Blocking, bounded by a timeout: callers run it in a thread, never on a loop that serves
anything else.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from appliance.domain.mail import MailSecurity, MailSettings
from appliance.errors import ApplianceError

TIMEOUT_S = 15.0


class MailFailure(ApplianceError):
    """The mail did not go: `code` says why in a word the console translates, the message
    carries the server's own answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _server_says(exc: smtplib.SMTPResponseException) -> str:
    text = (
        exc.smtp_error.decode("utf-8", "replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    return f"{exc.smtp_code} {' '.join(text.split())}"[:300]


def _connect(mail: MailSettings, context: ssl.SSLContext) -> smtplib.SMTP:
    if mail.security is MailSecurity.TLS:
        return smtplib.SMTP_SSL(mail.host, mail.port, timeout=TIMEOUT_S, context=context)
    client = smtplib.SMTP(mail.host, mail.port, timeout=TIMEOUT_S)
    if mail.security is MailSecurity.STARTTLS:
        client.ehlo()
        if not client.has_extn("starttls"):
            client.close()
            raise MailFailure("no_starttls", "the server does not offer STARTTLS")
        client.starttls(context=context)
        client.ehlo()
    return client


def send(
    mail: MailSettings,
    recipients: list[str],
    subject: str,
    body: str,
    context: ssl.SSLContext | None = None,
) -> None:
    """Send one message to the recipients, or raise MailFailure saying why in plain words."""
    if not mail.configured:
        raise MailFailure("not_configured", "no SMTP server or sender is set")
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=mail.sender.rpartition("@")[2])
    message.set_content(body)
    try:
        client = _connect(mail, context or ssl.create_default_context())
        try:
            if mail.username:
                client.login(mail.username, mail.password)
            refused = client.send_message(message)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except MailFailure:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise MailFailure(
            "wrong_password", f"the server refused the account or password: {_server_says(exc)}"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise MailFailure(
            "no_auth", "the server offers no login (AUTH) on this connection"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        first = next(iter(exc.recipients.values()))
        code, text = (
            first[0],
            first[1].decode("utf-8", "replace") if isinstance(first[1], bytes) else first[1],
        )
        raise MailFailure(
            "relay_refused", f"the server refused the recipient: {code} {text}"[:300]
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise MailFailure(
            "sender_refused", f"the server refused the sender: {_server_says(exc)}"
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise MailFailure("refused", f"the server refused the mail: {_server_says(exc)}") from None
    except ssl.SSLCertVerificationError as exc:
        raise MailFailure(
            "tls_failed", f"the server's certificate is not trusted: {exc.verify_message}"
        ) from None
    except ssl.SSLError as exc:
        raise MailFailure("tls_failed", f"TLS failed: {exc.reason or exc}") from None
    except socket.gaierror:
        raise MailFailure("unknown_host", f"the name {mail.host} does not resolve") from None
    except TimeoutError:
        raise MailFailure(
            "timeout", f"{mail.host}:{mail.port} did not answer in {TIMEOUT_S:.0f} s"
        ) from None
    except ConnectionRefusedError:
        raise MailFailure(
            "unreachable", f"{mail.host}:{mail.port} refused the connection"
        ) from None
    except smtplib.SMTPServerDisconnected:
        raise MailFailure(
            "disconnected",
            "the server closed the connection (is the security setting right for this port?)",
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailFailure("unreachable", f"{mail.host}:{mail.port}: {exc}"[:300]) from None
    if refused:
        raise MailFailure("relay_refused", f"the server refused: {', '.join(refused)}")
