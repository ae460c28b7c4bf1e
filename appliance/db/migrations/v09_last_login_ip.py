"""Schema step 9: accounts remember where they last signed in."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# Where each account last signed in successfully: failures from other addresses do not
# slow its owner down there (an outsider cannot lock the owner out).
V9 = [
    "ALTER TABLE app_user ADD COLUMN last_login_ip TEXT",
]

STEP = Step(9, "accounts remember where they last signed in", V9)
