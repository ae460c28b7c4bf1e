"""Schema step 4: organisations, employees, roles; parties' organisations on recordings."""

from __future__ import annotations

from appliance.db.migrations.step import LIVE, Step

# Organisation tree, employees (users with an extension), roles and the departments
# they manage; recordings remember the organisations of both parties for filters and scope.
V4 = [
    """CREATE TABLE organization (
        id {pk}, name TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL UNIQUE,
        device_id INTEGER REFERENCES device(id), parent_id INTEGER REFERENCES organization(id),
        created_at {ts} NOT NULL)""",
    "CREATE INDEX organization_parent ON organization (parent_id)",
    """CREATE TABLE role (
        id {pk}, name TEXT NOT NULL UNIQUE, actions TEXT NOT NULL, created_at {ts} NOT NULL)""",
    """CREATE TABLE role_department (
        role_id INTEGER NOT NULL REFERENCES role(id), organization_id INTEGER NOT NULL
        REFERENCES organization(id), PRIMARY KEY (role_id, organization_id))""",
    """CREATE TABLE user_role (
        user_id INTEGER NOT NULL REFERENCES app_user(id), role_id INTEGER NOT NULL
        REFERENCES role(id), PRIMARY KEY (user_id, role_id))""",
    "CREATE INDEX user_role_role ON user_role (role_id)",
    "CREATE INDEX role_department_org ON role_department (organization_id)",
    "ALTER TABLE app_user ADD COLUMN extension TEXT",
    "ALTER TABLE app_user ADD COLUMN phone TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE app_user ADD COLUMN organization_id INTEGER REFERENCES organization(id)",
    "CREATE INDEX app_user_organization ON app_user (organization_id)",
    "CREATE INDEX app_user_extension ON app_user (extension)",
    "ALTER TABLE recording ADD COLUMN caller_org_id INTEGER",
    "ALTER TABLE recording ADD COLUMN callee_org_id INTEGER",
    f"CREATE INDEX recording_caller_org ON recording (caller_org_id, kind, started_at) {LIVE}",
    f"CREATE INDEX recording_callee_org ON recording (callee_org_id, kind, started_at) {LIVE}",
]

STEP = Step(4, "organisations, employees, roles; parties' organisations on recordings", V4)
