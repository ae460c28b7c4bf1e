"""SIP messages (RFC 3261 §7) parsed from bytes, tolerant of sloppy senders; no I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.errors import ApplianceError

MAX_MESSAGE_BYTES = 64 * 1024
MAX_HEADERS = 200
MAX_DIGITS = 10  # CSeq and every count or duration fit in 2**32 (RFC 3261 §8.1.1.5)
# Headers whose value is a number, possibly followed by ;parameters (Session-Expires).
NUMERIC_HEADERS = ("max-forwards", "expires", "min-expires", "min-se", "session-expires", "rseq")

# Compact forms (RFC 3261 §7.3.3 and later RFCs) and their full names.
_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
    "o": "event",
    "r": "refer-to",
    "u": "allow-events",
    "b": "referred-by",
    "x": "session-expires",
}
_REQUEST_LINE = re.compile(rb"^([A-Za-z]+) +(\S+) +SIP/2\.0$")
_STATUS_LINE = re.compile(rb"^SIP/2\.0 +(\d{3})(?: +(.*))?$")


class SipParseError(ApplianceError):
    """Bytes that are not a SIP message we can act on."""


def is_number(text: str) -> bool:
    """ASCII digits, no more than any real count needs (int() refuses past 4300 anyway)."""
    return 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()


def number(name: str, value: str) -> int:
    """A decimal number in a header or SDP line; anything else is a SipParseError."""
    text = value.strip()
    if not is_number(text):
        shown = text[:20] + ("..." if len(text) > 20 else "")
        raise SipParseError(f"bad {name} {shown!r}: not a number of at most {MAX_DIGITS} digits")
    return int(text)


@dataclass
class SipMessage:
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive, compact forms folded), or None."""
        key = name.lower()
        for k, v in self.headers:
            if k == key:
                return v
        return None

    def all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, v in self.headers if k == key]

    def tokens(self, name: str) -> set[str]:
        """Comma-separated option tags across every instance of a header, lower-cased."""
        return {t.strip().lower() for v in self.all(name) for t in v.split(",") if t.strip()}

    @property
    def call_id(self) -> str:
        return self.header("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        raw = (self.header("cseq") or "").split()
        if len(raw) != 2:
            raise SipParseError(f"bad CSeq {(self.header('cseq') or '')[:40]!r}")
        return number("CSeq", raw[0]), raw[1].upper()


@dataclass
class SipRequest(SipMessage):
    method: str = ""
    uri: str = ""


@dataclass
class SipResponse(SipMessage):
    status: int = 0
    reason: str = ""


def blank_line(data: bytes, start: int = 0) -> tuple[int, int] | None:
    """Where the headers end and the body begins (CRLF or, from sloppy senders, bare LF)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = data.find(sep, start)
        if at >= 0:
            return at, at + len(sep)
    return None


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    found = blank_line(data)
    if found is None:
        raise SipParseError("no blank line after the headers")
    return data[: found[0]], data[found[1] :]


def _unfold(head: bytes) -> list[bytes]:
    lines: list[bytes] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += b" " + line.strip()  # obsolete line folding
        else:
            lines.append(line.rstrip(b"\r"))
    return lines


def _parse_head(data: bytes) -> tuple[SipMessage, bytes]:
    """The start line and headers, and the bytes after them; nothing checked inside."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    head, body = _split_head(data.lstrip(b"\r\n"))
    lines = _unfold(head)
    if len(lines) - 1 > MAX_HEADERS:
        raise SipParseError(f"more than {MAX_HEADERS} headers")
    first = lines[0].strip()
    message: SipMessage
    if m := _REQUEST_LINE.match(first):
        message = SipRequest(method=m.group(1).decode().upper(), uri=m.group(2).decode("latin-1"))
    elif m := _STATUS_LINE.match(first):
        reason = (m.group(2) or b"").decode("utf-8", "replace")
        message = SipResponse(status=int(m.group(1)), reason=reason)
    else:
        raise SipParseError(f"not a SIP start line: {first[:80]!r}")
    for line in lines[1:]:
        if not line.strip():
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise SipParseError(f"header line without a name: {line[:80]!r}")
        key = name.strip().decode("latin-1").lower()
        message.headers.append((_COMPACT.get(key, key), value.strip().decode("utf-8", "replace")))
    return message, body


def _check_dialog_headers(message: SipMessage) -> None:
    """What any answer needs: without these not even a 400 can be sent back."""
    for required in ("via", "call-id", "cseq", "from", "to"):
        if message.header(required) is None:
            raise SipParseError(f"missing {required} header")
    _ = message.cseq  # validates it


def parse(data: bytes) -> SipMessage:
    """Parse one complete message (a UDP datagram, or a frame cut from a TCP stream)."""
    message, body = _parse_head(data)
    length = message.header("content-length")
    if length is not None:
        declared = number("Content-Length", length)
        if declared > len(body):
            raise SipParseError(f"body of {len(body)} bytes, Content-Length says {declared}")
        body = body[:declared]
    message.body = body
    _check_dialog_headers(message)
    for name in NUMERIC_HEADERS:
        for value in message.all(name):
            number(name.title(), value.split(";")[0])
    return message


def answerable(data: bytes) -> SipRequest | None:
    """The request in bytes that `parse` refused, when it is whole enough to be answered
    with 400 (RFC 3261 §8.2.6): not an ACK, and with Via, From, To, Call-ID and CSeq."""
    try:
        message, _ = _parse_head(data)
        _check_dialog_headers(message)
    except SipParseError:
        return None
    if not isinstance(message, SipRequest) or message.method == "ACK":
        return None
    return message


def frame_length(buffer: bytes) -> int | None:
    """Bytes of the first whole message in a TCP stream buffer; None while incomplete."""
    start = len(buffer) - len(buffer.lstrip(b"\r\n"))  # keep-alive CRLFs between messages
    found = blank_line(buffer, start)
    if found is None:
        if len(buffer) > MAX_MESSAGE_BYTES:
            raise SipParseError("headers exceed the size limit")
        return None
    head_end = found[1]
    match = re.search(
        rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$", buffer[start:head_end]
    )
    if match is None:
        raise SipParseError("a message over TCP needs a Content-Length")  # RFC 3261 §18.3
    total = head_end + number("Content-Length", match.group(1).decode("ascii"))
    if total > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {total} bytes exceeds {MAX_MESSAGE_BYTES}")
    return total if len(buffer) >= total else None
