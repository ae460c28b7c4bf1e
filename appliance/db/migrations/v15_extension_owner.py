"""Schema step 15: who owns an extension on a device, and the table's revision."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# Kept up to date by the changes of employees and of the device an organisation records on
# (its own, else its nearest ancestor's), filled here from the employees there are; the
# revision tells a reader (the capture's memory) whether its copy still holds. user_id has
# no foreign key: an employee's row goes in the transaction that deletes the employee,
# after the delete.
V15_COMMON = [
    """CREATE TABLE extension_owner (
        device_id INTEGER NOT NULL REFERENCES device(id), extension TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        organization_id INTEGER NOT NULL REFERENCES organization(id),
        PRIMARY KEY (device_id, extension))""",
    "CREATE INDEX extension_owner_user ON extension_owner (user_id)",
    "CREATE TABLE extension_owner_revision (id INTEGER PRIMARY KEY, revision BIGINT NOT NULL)",
    "INSERT INTO extension_owner_revision (id, revision) VALUES (1, 1)",
    """INSERT INTO extension_owner (device_id, extension, user_id, organization_id)
    WITH RECURSIVE up (org_id, node, device_id, depth) AS (
        SELECT id, parent_id, device_id, 0 FROM organization
        UNION ALL
        SELECT up.org_id, o.parent_id, o.device_id, up.depth + 1
        FROM up JOIN organization o ON o.id = up.node
        WHERE up.device_id IS NULL AND up.depth < 1000
    )
    SELECT up.device_id, u.extension, u.id, u.organization_id
    FROM app_user u JOIN up ON up.org_id = u.organization_id
    WHERE up.device_id IS NOT NULL AND u.extension IS NOT NULL
    ON CONFLICT (device_id, extension) DO NOTHING""",
]

# Renumbered when it merges after the other steps of issue 13.
STEP = Step(15, "who owns an extension on a device", V15_COMMON)
