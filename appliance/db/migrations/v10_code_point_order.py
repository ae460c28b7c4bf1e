"""Schema step 10: numbers, paths and tags compared by code point."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# Numbers, file paths and tag names are found by prefix with a range (>= p AND < p+U+10FFFF),
# which holds only in code-point order. A PostgreSQL database created under a glibc locale
# (zh_CN.UTF-8, en_US.UTF-8) collates ignoring punctuation: the range then matched no
# file of a day folder, and the orphan sweep deleted every recording older than an hour.
# SQLite compares bytes already.
V10_POSTGRES = [
    'ALTER TABLE recording ALTER COLUMN caller TYPE TEXT COLLATE "C", '
    'ALTER COLUMN callee TYPE TEXT COLLATE "C", ALTER COLUMN relpath TYPE TEXT COLLATE "C"',
    'ALTER TABLE tag ALTER COLUMN name TYPE TEXT COLLATE "C"',
]

STEP = Step(10, "numbers, paths and tags compared by code point", [], {"postgres": V10_POSTGRES})
