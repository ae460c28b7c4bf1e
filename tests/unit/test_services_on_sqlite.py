"""Use cases of the organisation, roles and settings services on SQLite: what they store,
what they refuse (and that a refusal stores nothing), and the event-log entry each change
leaves in the same transaction."""

from __future__ import annotations

import uuid

import pytest
from pony.orm import db_session

from appliance.db.entities import Organization, Role
from appliance.domain.organization import Action
from appliance.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from appliance.services import events, organizations, roles, settings
from appliance.services.context import Actor
from appliance.services.organizations import OrgSpec
from appliance.services.roles import RoleSpec

ADMIN = Actor(1, "admin", "Administrator", True, "127.0.0.1", "session")
AGENT = Actor(2, "ABC8001", "Agent", False, "127.0.0.1", "session")


@pytest.fixture(autouse=True)
def _database(sqlite_database: object) -> None:
    """Every test here works on the shared unit-test database."""


def _prefix() -> str:
    return "".join(chr(65 + int(c, 16) % 26) for c in uuid.uuid4().hex[:4])


def _new_events(after: int) -> list[tuple[str, dict]]:
    return [(e.kind, e.params) for e in events.after(after)]


def test_a_role_is_stored_with_its_actions_as_a_list_and_its_events_say_so():
    before = events.latest_id()
    name = f"QA {uuid.uuid4().hex[:6]}"
    made = roles.create_role(ADMIN, RoleSpec(name, [], [Action.PLAY, Action.SCORE_TAG]))
    assert made.actions == [Action.PLAY, Action.SCORE_TAG]
    with db_session:
        assert Role[made.id].actions == ["PLAY", "SCORE_TAG"]
    roles.delete_role(ADMIN, made.id)
    with db_session:
        assert Role.get(id=made.id) is None
    kinds = [k for k, _ in _new_events(before)]
    assert kinds == ["role.created", "role.deleted"]
    assert _new_events(before)[1][1] == {"id": made.id, "name": name}


def test_a_duplicate_role_name_is_refused_with_its_rule_and_stores_nothing():
    name = f"Dup {uuid.uuid4().hex[:6]}"
    roles.create_role(ADMIN, RoleSpec(name, [], [Action.PLAY]))
    before = events.latest_id()
    with pytest.raises(Conflict) as refused:
        roles.create_role(ADMIN, RoleSpec(name, [], [Action.EXPORT]))
    assert (refused.value.code, refused.value.params) == ("duplicate", {"value": name})
    with db_session:
        assert Role.select(lambda r: r.name == name).count() == 1
    assert events.latest_id() == before


def test_only_administrators_change_roles_and_organisations():
    with pytest.raises(PermissionDenied):
        roles.create_role(AGENT, RoleSpec("Mine", [], [Action.PLAY]))
    with pytest.raises(PermissionDenied):
        organizations.create_org(AGENT, OrgSpec("Mine", _prefix(), None, None))


def test_a_department_is_not_put_under_itself_and_a_deleted_one_leaves_an_entry():
    before = events.latest_id()
    top = organizations.create_org(ADMIN, OrgSpec(f"Top {uuid.uuid4().hex[:4]}", _prefix(), None, None))
    child = organizations.create_org(ADMIN, OrgSpec(f"Sub {uuid.uuid4().hex[:4]}", _prefix(), None, top.id))
    with pytest.raises(InvalidInput) as refused:
        organizations.update_org(ADMIN, top.id, OrgSpec(top.name, top.prefix, None, child.id))
    assert (refused.value.code, refused.value.field) == ("cycle", "parent_id")
    with pytest.raises(Conflict) as in_use:
        organizations.delete_org(ADMIN, top.id)
    assert in_use.value.code == "in_use"
    organizations.delete_org(ADMIN, child.id)
    with db_session:
        assert Organization.get(id=child.id) is None and Organization[top.id].parent_id is None
    deleted = [p for k, p in _new_events(before) if k == "organization.deleted"]
    assert [p["id"] for p in deleted] == [child.id]
    with pytest.raises(NotFound):
        organizations.delete_org(ADMIN, child.id)


def test_a_settings_change_is_validated_stored_and_logged_with_its_new_values():
    was = settings.current()
    before = events.latest_id()
    try:
        with pytest.raises(InvalidInput) as refused:
            settings.update(ADMIN, mixing_gain=11)
        assert (refused.value.field, refused.value.code) == ("mixing_gain", "out_of_range")
        assert settings.current().mixing_gain == was.mixing_gain
        assert events.latest_id() == before
        settings.update(ADMIN, mixing_gain=3 if was.mixing_gain != 3 else 4)
        [(kind, params)] = _new_events(before)
        assert kind == "settings.changed" and params == {"mixing_gain": settings.current().mixing_gain}
    finally:
        settings.update(ADMIN, mixing_gain=was.mixing_gain)
