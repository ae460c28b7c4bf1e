"""Fragment fan-out documents: each level spreads the next several times (issue 11, #1).
Shared by the refusal tests and the refusal-time benchmark."""

from __future__ import annotations

from collections.abc import Callable


def chain(levels: int, body: Callable[[int], str], on: str = "User", root: str = "me") -> str:
    """`{ root { ...F0 } }` and fragments F0..F(levels), each body spreading the next."""
    fragments = " ".join(f"fragment F{i} on {on} {{ {body(i)} }}" for i in range(levels))
    last = "name" if on == "__Type" else "login"
    return f"query {{ {root} {{ ...F0 }} }} {fragments} fragment F{levels} on {on} {{ {last} }}"


SHAPES: dict[str, Callable[[int], str]] = {
    # The document.
    "two spreads": lambda i: f"login ...F{i + 1} ...F{i + 1}",
    "three spreads": lambda i: f"login ...F{i + 1} ...F{i + 1} ...F{i + 1}",
    "nested inline fragments": lambda i: (
        f"login ... on User {{ ... on User {{ ...F{i + 1} }} ... on User {{ ...F{i + 1} }} }}"
    ),
    "aliased fields": lambda i: f"a{i}: login b{i}: name ...F{i + 1} ...F{i + 1}",
}
LEVELS = (10, 16, 20, 30, 40, 50, 60)
