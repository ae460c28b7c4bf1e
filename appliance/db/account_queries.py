"""Look-ups for users, sessions and API tokens."""

from __future__ import annotations

from datetime import datetime

from appliance.db.sql import rows, run, to_db_time


def token_ids(user_id: int | None) -> list[int]:
    if user_id is None:
        return [r[0] for r in rows("SELECT id FROM api_token ORDER BY id")]
    return [r[0] for r in rows("SELECT id FROM api_token WHERE user_id = ? ORDER BY id", [user_id])]


def delete_expired_sessions(now: datetime) -> None:
    run("DELETE FROM user_session WHERE expires_at < ?", [to_db_time(now)])


def delete_sessions_of(user_id: int) -> None:
    run("DELETE FROM user_session WHERE user_id = ?", [user_id])
