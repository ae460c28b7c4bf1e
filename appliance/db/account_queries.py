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


def delete_sessions_of(user_id: int, keep_token_hash: str | None = None) -> int:
    """End the account's sessions (but the one kept); return how many ended."""
    if keep_token_hash is None:
        return int(run("DELETE FROM user_session WHERE user_id = ?", [user_id]).rowcount)
    return int(
        run(
            "DELETE FROM user_session WHERE user_id = ? AND token_hash <> ?",
            [user_id, keep_token_hash],
        ).rowcount
    )


def revoke_tokens_of(user_id: int, now: datetime) -> int:
    """Revoke the account's live API tokens; return how many."""
    return int(
        run(
            "UPDATE api_token SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            [to_db_time(now), user_id],
        ).rowcount
    )


def delete_tokens_of(user_id: int) -> int:
    """Remove the account's API tokens (for deleting the account); return how many were live."""
    live = int(
        run(
            "SELECT COUNT(*) FROM api_token WHERE user_id = ? AND revoked_at IS NULL", [user_id]
        ).fetchone()[0]
    )
    run("DELETE FROM api_token WHERE user_id = ?", [user_id])
    return live
