"""multipart/mixed bodies of SIPREC offers (RFC 2046), as vendors really send them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.capture.sip.message import blank_line, is_number


@dataclass
class Part:
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        """The media type alone, lower-cased, parameters dropped."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def boundary_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', content_type, re.I)
    return (match.group(1) or match.group(2)) if match else None


def _guess_boundary(body: bytes) -> str | None:
    """The first line that starts with '--': some senders' headers name no boundary, or
    a different one from the body's."""
    for line in body.splitlines():
        line = line.strip()
        if line.startswith(b"--") and len(line) > 2:
            return line[2:].decode("latin-1").removesuffix("--")
        if line:
            return None
    return None


def _part(raw: bytes) -> Part:
    raw = raw.lstrip(b"\r\n") if raw.startswith((b"\r\n", b"\n")) else raw
    found = blank_line(raw)
    head, body = (raw[: found[0]], raw[found[1] :]) if found else (raw, b"")
    part = Part()
    for line in re.split(rb"\r?\n", head):
        name, colon, value = line.partition(b":")
        if colon:
            part.headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    length = part.headers.get("content-length", "").strip()
    if is_number(length) and int(length) <= len(body):
        body = body[: int(length)]
    part.body = body.rstrip(b"\r\n") + (b"\r\n" if body.strip() else b"")
    return part


def split(body: bytes, content_type: str | None) -> list[Part]:
    """The parts of a multipart body; a non-multipart body is one part of its own type."""
    if not (content_type or "").lower().startswith("multipart/") and not body.lstrip().startswith(
        b"--"
    ):
        return [Part({"content-type": content_type or ""}, body)]
    boundary = _guess_boundary(body)
    declared = boundary_of(content_type)
    if declared and f"--{declared}".encode() in body:
        boundary = declared
    if boundary is None:
        return []
    delimiter = re.compile(
        rb"(?:^|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?=\r?\n|$)"
    )
    parts: list[Part] = []
    pieces = delimiter.split(body)
    # split() yields: preamble, then (closing-marker, part) pairs.
    for i in range(1, len(pieces) - 1, 2):
        closing, raw = pieces[i], pieces[i + 1]
        if closing:
            break
        if raw.strip():
            parts.append(_part(raw))
    return parts
