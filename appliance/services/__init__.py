"""Use cases: each opens its db_session, checks permission and writes the audit entry."""
