"""The organisation tree ("组织架构"), employees, roles and the scope they give."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from appliance.domain.rules import check_length
from appliance.errors import InvalidInput

NAME_MAX = 64
PREFIX_MAX = 4
EXTENSION_MAX = 32
PHONE_MAX = 32
_PREFIX = re.compile(r"^[A-Z]+$")
_EXTENSION = re.compile(r"^[0-9A-Za-z*#+]+$")
_PHONE = re.compile(r"^[0-9+\-() ]*$")


class Action(StrEnum):
    """What a role may do with the recordings it can see, beyond listing them."""

    PLAY = "PLAY"
    DOWNLOAD = "DOWNLOAD"
    EXPORT = "EXPORT"
    SCORE_TAG = "SCORE_TAG"
    DELETE = "DELETE"


@dataclass(frozen=True)
class OrgNode:
    """One organisation (department) of the tree, by the ids that link it."""

    id: int
    name: str
    prefix: str
    device_id: int | None
    parent_id: int | None


# An employee with no role may still listen to and fetch their own calls.
EMPLOYEE_ACTIONS = frozenset({Action.PLAY, Action.DOWNLOAD})


def check_org_name(name: str) -> str:
    return check_length("name", name.strip(), NAME_MAX, "organisation name")


def check_prefix(prefix: str) -> str:
    prefix = check_length("prefix", prefix.strip(), PREFIX_MAX)
    if not _PREFIX.match(prefix):
        raise InvalidInput(
            f"prefix: 1 to {PREFIX_MAX} upper-case letters A-Z",
            field="prefix",
            params={"max": PREFIX_MAX},
        )
    return prefix


def check_extension(extension: str) -> str:
    extension = check_length("extension", extension.strip(), EXTENSION_MAX)
    if not _EXTENSION.match(extension):
        raise InvalidInput(
            f"extension: 1 to {EXTENSION_MAX} digits or letters",
            field="extension",
            params={"max": EXTENSION_MAX},
        )
    return extension


def check_person_name(name: str) -> str:
    return check_length("name", name.strip(), NAME_MAX)


def check_phone(phone: str) -> str:
    phone = phone.strip()
    if len(phone) > PHONE_MAX:
        raise InvalidInput(
            f"phone: at most {PHONE_MAX} characters",
            field="phone",
            code="too_long",
            params={"max": PHONE_MAX},
        )
    if not _PHONE.match(phone):
        raise InvalidInput(
            "phone: digits, spaces and + - ( ) only", field="phone", params={"max": PHONE_MAX}
        )
    return phone


def login_of(prefix: str, extension: str) -> str:
    """An employee signs in as the organisation prefix plus the extension: SHXZ1643."""
    return f"{prefix}{extension}"


def would_cycle(org_id: int, new_parent: int | None, parents: Mapping[int, int | None]) -> bool:
    """True when making new_parent the parent of org_id puts org_id under itself."""
    seen: set[int] = set()
    node = new_parent
    while node is not None and node not in seen:
        if node == org_id:
            return True
        seen.add(node)
        node = parents.get(node)
    return False


def with_descendants(roots: Iterable[int], parents: Mapping[int, int | None]) -> frozenset[int]:
    """The given departments and every department below them."""
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    out: set[int] = set()
    stack = [r for r in roots if r in parents]
    while stack:
        node = stack.pop()
        if node in out:
            continue
        out.add(node)
        stack.extend(children.get(node, []))
    return frozenset(out)


def effective_device(
    org_id: int, parents: Mapping[int, int | None], devices: Mapping[int, int | None]
) -> int | None:
    """The device an organisation records on: its own, else the nearest ancestor's."""
    seen: set[int] = set()
    node: int | None = org_id
    while node is not None and node not in seen:
        if devices.get(node) is not None:
            return devices[node]
        seen.add(node)
        node = parents.get(node)
    return None


@dataclass(frozen=True)
class Scope:
    """Which recordings an actor may see: all, some departments', and/or their own."""

    everything: bool = False
    org_ids: frozenset[int] = frozenset()
    own_device: int | None = None
    own_extension: str | None = None

    @property
    def sees_nothing(self) -> bool:
        return not self.everything and not self.org_ids and self.own_extension is None


EVERYTHING = Scope(everything=True)
