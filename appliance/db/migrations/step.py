"""One schema step, and the column types each provider spells its own way."""

from __future__ import annotations

import re
from dataclasses import dataclass

TYPES = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY", "ts": "DATETIME", "real": "REAL", "bool": "BOOLEAN"},
    "postgres": {
        "pk": "BIGSERIAL PRIMARY KEY",
        "ts": "TIMESTAMP",
        "real": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
    },
}

# Partial indexes keep deleted recordings out of every search path.
LIVE = "WHERE deleted_at IS NULL"

# Only these placeholders are replaced, in common and provider statements alike: SQL keeps
# its own braces (JSON defaults, PL/pgSQL) without doubling them.
_PLACEHOLDER = re.compile(r"\{(pk|ts|real|bool)\}")


@dataclass(frozen=True)
class Step:
    version: int
    description: str
    statements: list[str]
    by_provider: dict[str, list[str]] | None = None

    def rendered(self, provider: str) -> list[str]:
        """This step's statements for one provider, common ones first."""
        own = (self.by_provider or {}).get(provider, [])
        return [render(s, provider) for s in [*self.statements, *own]]


def render(statement: str, provider: str) -> str:
    types = TYPES[provider]
    return _PLACEHOLDER.sub(lambda m: types[m.group(1)], statement)
