"""A zip archive written straight into the response, entry by entry, never whole in memory."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Iterable, Iterator


class _Sink:
    """A write-only, non-seekable file: zipfile then uses data descriptors."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def stream_zip(entries: Iterable[tuple[str, Callable[[], Iterable[bytes]]]]) -> Iterator[bytes]:
    """Yield zip bytes; each entry is (name, a function giving its content in pieces)."""
    sink = _Sink()
    now = time.localtime()[:6]
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as zf:  # type: ignore[call-overload]
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=now)
            compress = not name.endswith(".mp3")  # MP3 is already compressed
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            with zf.open(info, mode="w", force_zip64=True) as entry:
                for piece in content():
                    entry.write(piece)
                    if out := sink.drain():
                        yield out
            if out := sink.drain():
                yield out
    if out := sink.drain():
        yield out
