"""Device look-ups."""

from __future__ import annotations

from appliance.db.sql import rows


def ids_by_mode(mode: str | None) -> list[int]:
    if mode is None:
        return [r[0] for r in rows("SELECT id FROM device ORDER BY alias")]
    return [r[0] for r in rows("SELECT id FROM device WHERE mode = ? ORDER BY alias", [mode])]


def ids_matching(text: str) -> list[int]:
    """Devices whose alias or address is exactly the text (the search's device condition)."""
    return [
        r[0] for r in rows("SELECT id FROM device WHERE alias = ? OR address = ?", [text, text])
    ]


def addresses(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    sql = f"SELECT id, address FROM device WHERE id IN ({','.join('?' * len(ids))})"
    return {r[0]: r[1] for r in rows(sql, ids)}


def aliases(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    sql = f"SELECT id, alias FROM device WHERE id IN ({','.join('?' * len(ids))})"
    return {r[0]: r[1] for r in rows(sql, ids)}


def count() -> int:
    return int(rows("SELECT COUNT(*) FROM device")[0][0])


def has_recordings(device_id: int) -> bool:
    return bool(rows("SELECT 1 FROM recording WHERE device_id = ? LIMIT 1", [device_id]))


def push_addresses() -> list[tuple[int, str, str]]:
    """(id, address, cache address) of every push device, oldest first."""
    found = rows("SELECT id, address, cache_address FROM device WHERE mode = 'PUSH' ORDER BY id")
    return [(r[0], r[1], r[2]) for r in found]
