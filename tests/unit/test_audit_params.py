"""An audit entry's params stay JSON however long their values: a cut text broke the log."""

from __future__ import annotations

import json

from appliance.services.audit import MAX_DETAILS, _stored_params


def test_long_values_are_shortened_not_the_json_text():
    departments = ", ".join("部" * 64 for _ in range(33))  # a role over 33 long-named departments
    stored = _stored_params({"name": "QA", "departments": departments, "actions": "PLAY"})
    assert len(stored) <= MAX_DETAILS
    loaded = json.loads(stored)
    assert loaded["name"] == "QA" and loaded["actions"] == "PLAY"
    assert loaded["departments"].endswith("…") and departments.startswith(loaded["departments"][:-1])


def test_short_params_are_kept_whole():
    assert json.loads(_stored_params({"sn": "20240501_093000_269", "count": 3})) == {"sn": "20240501_093000_269", "count": 3}


def test_too_many_values_give_an_empty_object_rather_than_broken_text():
    many = {f"k{i}": "x" * 200 for i in range(40)}
    assert json.loads(_stored_params(many)) == {}
