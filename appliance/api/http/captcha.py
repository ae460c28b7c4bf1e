"""Login captcha images, kept in the API process's memory for a few minutes, used once."""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
import time
from collections import deque

from captcha.image import ImageCaptcha

from appliance.errors import CaptchaFailed

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I look-alikes
LENGTH = 4
TTL_SECONDS = 300
MAX_PENDING = 10_000
# A person has a few sign-in pages open at most; more from one address is a flood, and
# the flood only ever evicts its own captchas.
MAX_PENDING_PER_SOURCE = 10


class CaptchaStore:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._pending: dict[str, tuple[str, float, str]] = {}  # id -> answer, expiry, source
        self._by_source: dict[str, deque[str]] = {}  # source -> its ids, oldest first
        self._lock = threading.Lock()
        self._image = ImageCaptcha(width=160, height=60)

    def new(self, source: str = "") -> tuple[str, str]:
        """Return (id, data: URL of a PNG)."""
        answer = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        png = self._image.generate(answer, format="png").getvalue()
        captcha_id = secrets.token_urlsafe(16)
        now = time.monotonic()
        with self._lock:
            mine = self._by_source.setdefault(source, deque())
            while len(mine) >= MAX_PENDING_PER_SOURCE:
                self._pending.pop(mine.popleft(), None)
            if len(self._pending) >= MAX_PENDING:
                self._drop_expired(now)
            while len(self._pending) >= MAX_PENDING:
                # Full of live captchas from many sources: the one holding most gives way.
                biggest = max(self._by_source, key=lambda k: len(self._by_source[k]))
                self._pending.pop(self._by_source[biggest].popleft(), None)
                if not self._by_source[biggest]:
                    del self._by_source[biggest]
            self._pending[captcha_id] = (answer, now + TTL_SECONDS, source)
            self._by_source.setdefault(source, deque()).append(captcha_id)
        return captcha_id, "data:image/png;base64," + base64.b64encode(png).decode()

    def _drop_expired(self, now: float) -> None:
        self._pending = {k: v for k, v in self._pending.items() if v[1] > now}
        for source, ids in list(self._by_source.items()):
            kept = deque(i for i in ids if i in self._pending)
            if kept:
                self._by_source[source] = kept
            else:
                del self._by_source[source]

    def _forget(self, captcha_id: str, source: str) -> None:
        ids = self._by_source.get(source)
        if ids is None:
            return
        try:
            ids.remove(captcha_id)
        except ValueError:
            pass
        if not ids:
            del self._by_source[source]

    def verify(self, captcha_id: str | None, answer: str | None) -> None:
        """Raise CaptchaFailed unless the answer matches; each captcha is good for one try."""
        if not self.enabled:
            return
        with self._lock:
            entry = self._pending.pop(captcha_id or "", None)
            if entry is not None:
                self._forget(captcha_id or "", entry[2])
        if entry is None or entry[1] < time.monotonic():
            raise CaptchaFailed("the captcha expired; load a new one")
        if not hmac.compare_digest(entry[0], (answer or "").strip().upper()):
            raise CaptchaFailed("the captcha answer is wrong")
