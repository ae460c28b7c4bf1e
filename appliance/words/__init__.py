"""Words a person reads in the files the server builds, in the console's three languages.

The console imports the same JSON files, so a column, an audit type or an audit entry is
worded once for the screen and the spreadsheet.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from appliance.domain.accounts import DEFAULT_ADMIN_LOGIN, DEFAULT_ADMIN_NAME

LANGUAGES = ("zh-CN", "zh-TW", "en")
DEFAULT_LANGUAGE = "zh-CN"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def language(requested: str | None) -> str:
    """The language asked for, or the default when it is not one of ours."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


@cache
def words(lang: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(f"{language(lang)}.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def columns(lang: str, table: str, names: list[str]) -> list[str]:
    """Headers of an exported table ("recordingColumns", "auditColumns")."""
    table_words = words(lang)[table]
    return [table_words[name] for name in names]


def person(lang: str, login: str, name: str) -> str:
    """A person's name; the built-in administrator's in lang."""
    if (login, name) == (DEFAULT_ADMIN_LOGIN, DEFAULT_ADMIN_NAME):
        return str(words(lang)["administrator"])
    return name


def audit_type(lang: str, type_: str) -> str:
    return str(words(lang)["auditTypes"].get(type_, type_))


def audit_entry(lang: str, event: str, params: dict[str, Any], fallback: str) -> str:
    """An audit entry's details in lang, as the console words them; older entries without an
    event keep the English they were stored with."""
    vocabulary = words(lang)
    template = vocabulary["auditEvents"].get(event)
    if not event or template is None:
        return fallback
    values = dict(params)
    source = values.get("source")
    if isinstance(source, str):
        values["source"] = vocabulary["auditSources"].get(source, source)
    actions = values.get("actions")
    if isinstance(actions, str) and actions != "-":
        names = vocabulary["roleActions"]
        values["actions"] = ", ".join(names.get(a, a) for a in actions.split(", "))
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}"
    return "-" if value is None else str(value)


def alarm_text(lang: str, event: str, value: Any, threshold: Any, params: dict[str, Any]) -> str:
    """An alarm's condition in lang, from its event, value, threshold and params."""
    template = words(lang)["alarmTexts"].get(event, event)
    values = {**params, "value": _number(value), "threshold": _number(threshold)}
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "-")), template)


def alarm_word(lang: str, table: str, key: str) -> str:
    """An event, level or state by its name ("alarmEvents", "alarmLevels", "alarmStates")."""
    return str(words(lang)[table].get(key, key))


def fill(template: str, **values: Any) -> str:
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)


def backup_description(lang: str, target: str, event: str, params: dict[str, Any],
                       counts: dict[str, int]) -> str:  # fmt: skip
    """A backup log entry's description in lang, in the manual's words."""
    vocabulary = words(lang)
    errors = vocabulary["backupErrors"]
    error = str(params.get("error", ""))
    reasons = [errors.get(error, error)] if error else []
    if params.get("problems"):
        reasons.append(fill(errors["problems"], problems=params["problems"]))
    template = vocabulary["backupEvents"].get(event, event)
    return fill(
        template,
        **{**params, **counts},
        target=vocabulary["backupKinds"].get(target, target),
        reason="; ".join(reasons),
    )
