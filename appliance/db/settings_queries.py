"""Key/value rows of the settings table."""

from __future__ import annotations

from appliance.db.entities import Setting
from appliance.db.sql import rows


def load_all() -> dict[str, str]:
    return {key: value for key, value in rows("SELECT key, value FROM setting")}


def save(values: dict[str, str]) -> None:
    for key, value in values.items():
        row = Setting.get(key=key)
        if row is None:
            Setting(key=key, value=value)
        elif row.value != value:
            row.value = value


def remove(key: str) -> None:
    row = Setting.get(key=key)
    if row is not None:
        row.delete()
