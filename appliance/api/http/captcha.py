"""Login captcha images, kept in the API process's memory for a few minutes, used once."""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
import time

from captcha.image import ImageCaptcha

from appliance.errors import CaptchaFailed

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I look-alikes
LENGTH = 4
TTL_SECONDS = 300
MAX_PENDING = 10_000


class CaptchaStore:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._pending: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._image = ImageCaptcha(width=160, height=60)

    def new(self) -> tuple[str, str]:
        """Return (id, data: URL of a PNG)."""
        answer = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        png = self._image.generate(answer, format="png").getvalue()
        captcha_id = secrets.token_urlsafe(16)
        now = time.monotonic()
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending = {k: v for k, v in self._pending.items() if v[1] > now}
                while len(self._pending) >= MAX_PENDING:
                    self._pending.pop(next(iter(self._pending)))
            self._pending[captcha_id] = (answer, now + TTL_SECONDS)
        return captcha_id, "data:image/png;base64," + base64.b64encode(png).decode()

    def verify(self, captcha_id: str | None, answer: str | None) -> None:
        """Raise CaptchaFailed unless the answer matches; each captcha is good for one try."""
        if not self.enabled:
            return
        with self._lock:
            entry = self._pending.pop(captcha_id or "", None)
        if entry is None or entry[1] < time.monotonic():
            raise CaptchaFailed("the captcha expired; load a new one")
        if not hmac.compare_digest(entry[0], (answer or "").strip().upper()):
            raise CaptchaFailed("the captcha answer is wrong")
