"""The GraphQL API: one root built from per-domain query and mutation classes."""
