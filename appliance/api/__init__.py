"""Adapters for people and integrators: GraphQL and plain HTTP."""
