"""Runs the appliance (`python -m tests.support.captcha_answers all`) with each captcha's answer
also written to <data>/../captcha-answers/<id>: what a person reads off the image, which a
test cannot. Only the source tree runs it; the production code has no such door."""

from __future__ import annotations

import os
from pathlib import Path

from appliance.api.http.captcha import CaptchaStore
from appliance.cli import main

ANSWERS = Path(os.environ["RECORDER_DATA_DIR"]).parent / "captcha-answers"
_new = CaptchaStore.new


def _new_and_tell(self: CaptchaStore, source: str = "") -> tuple[str, str]:
    captcha_id, image = _new(self, source)
    ANSWERS.mkdir(exist_ok=True)
    (ANSWERS / captcha_id).write_text(self._pending[captcha_id][0])
    return captcha_id, image


CaptchaStore.new = _new_and_tell  # type: ignore[method-assign]
raise SystemExit(main())
