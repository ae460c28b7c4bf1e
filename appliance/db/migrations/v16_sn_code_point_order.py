"""Schema step 16: SNs compared by code point."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# An SN is found by its beginning with a range (>= p AND < p+U+10FFFF), as numbers are
# (step 10): under a glibc locale PostgreSQL ignores the underscores and sorts U+10FFFF
# low, so "20240501_0930" found nothing. The unique index is rebuilt; rows are unchanged.
V16_POSTGRES = ['ALTER TABLE recording ALTER COLUMN sn TYPE TEXT COLLATE "C"']

STEP = Step(16, "SNs compared by code point", [], {"postgres": V16_POSTGRES})
