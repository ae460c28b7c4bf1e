"""The pair's wire: JSON messages, each a 4-byte length then UTF-8 JSON, over TLS; a file's
bytes follow the message that announces their size, in pieces (a backlog of any size never
sits in memory)."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError

MAX_MESSAGE = 64 * 1024 * 1024  # a configuration of tens of thousands of employees fits
FIRST_MESSAGE = 16 * 1024  # before the peer's certificate is known: a pairing request fits
PARSE_IN_LOOP = 256 * 1024
PIECE = 256 * 1024
IO_TIMEOUT = 60.0
_LENGTH = struct.Struct(">I")


class LinkError(ApplianceError):
    """The peer went away, sent something malformed, or refused. `problem` is a word of
    the console's vocabulary for the pair's status (services.ha.PROBLEMS)."""

    def __init__(self, message: str, problem: str = "other") -> None:
        super().__init__(message)
        self.problem = problem


async def send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    if len(body) > MAX_MESSAGE:
        raise LinkError(f"a message of {len(body)} bytes is over the limit")
    writer.write(_LENGTH.pack(len(body)) + body)
    await asyncio.wait_for(writer.drain(), IO_TIMEOUT)


async def receive(
    reader: asyncio.StreamReader, timeout: float = IO_TIMEOUT, limit: int = MAX_MESSAGE
) -> dict[str, Any]:
    """The next message; `limit` bounds its size (small until the peer is known)."""
    try:
        head = await asyncio.wait_for(reader.readexactly(_LENGTH.size), timeout)
        (size,) = _LENGTH.unpack(head)
        if size > limit:
            raise LinkError(f"the peer announced a message of {size} bytes")
        body = await asyncio.wait_for(reader.readexactly(size), IO_TIMEOUT)
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
        raise LinkError(f"the peer went away ({type(exc).__name__})", "unreachable") from None
    try:
        # A big body (a configuration) is parsed off the event loop: the API and the
        # capture share it under `recorder all`.
        message = (
            json.loads(body) if size < PARSE_IN_LOOP else await asyncio.to_thread(json.loads, body)
        )
    except (ValueError, RecursionError):
        raise LinkError("the peer sent a message that is not JSON") from None
    if not isinstance(message, dict):
        raise LinkError("the peer sent a message that is not an object")
    if message.get("op") == "refused":
        raise LinkError(
            f"the peer refused: {message.get('why', '')}", str(message.get("problem", "refused"))
        )
    return message


async def expect(
    reader: asyncio.StreamReader, op: str, timeout: float = IO_TIMEOUT, limit: int = MAX_MESSAGE
) -> dict[str, Any]:
    message = await receive(reader, timeout, limit)
    if message.get("op") != op:
        raise LinkError(f"expected {op!r} from the peer, got {message.get('op')!r}")
    return message


async def send_file(writer: asyncio.StreamWriter, path: Path, size: int) -> None:
    """Exactly `size` bytes of the file; the reader counts on that many."""
    sent = 0
    with path.open("rb") as fh:
        while sent < size:
            piece = await asyncio.to_thread(fh.read, min(PIECE, size - sent))
            if not piece:
                raise LinkError(f"{path.name} is shorter than its row says")
            writer.write(piece)
            await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
            sent += len(piece)


async def receive_file(
    reader: asyncio.StreamReader, size: int, sink: Callable[[bytes], Awaitable[None]]
) -> None:
    left = size
    while left:
        try:
            piece = await asyncio.wait_for(reader.read(min(PIECE, left)), IO_TIMEOUT)
        except (ConnectionError, TimeoutError) as exc:
            raise LinkError(f"the peer went away ({type(exc).__name__})", "unreachable") from None
        if not piece:
            raise LinkError("the peer went away in the middle of a file")
        await sink(piece)
        left -= len(piece)


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 5)
    except (ConnectionError, TimeoutError, OSError):
        pass
