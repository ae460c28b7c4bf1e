"""A standby's console is read-only: what it holds is the primary's, and a change made here
would be overwritten by the next sync. Signing in and out, acknowledging its own alarms and
the pair's own settings (make primary among them) stay possible."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from appliance.services import ha
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)

ON_STANDBY = {"login", "logout", "acknowledgeAlarm", "updateHaSettings", "syncNow", "makePrimary"}


def _root_fields(document: DocumentNode) -> set[str]:
    """The root fields of every mutation in the document, through fragments."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    found: set[str] = set()

    def walk(selections: SelectionSetNode, seen: frozenset[str]) -> None:
        for node in selections.selections:
            if isinstance(node, FieldNode):
                found.add(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                walk(node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                if name in fragments and name not in seen:
                    walk(fragments[name].selection_set, seen | {name})

    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode) and d.operation is OperationType.MUTATION:
            walk(d.selection_set, frozenset())
    return found


class StandbyReadOnly(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        gql = ctx.context
        if not ctx.pre_execution_errors and document is not None and gql is not None:
            refused = _root_fields(document) - ON_STANDBY
            if refused and ha.standby_now(gql.app.config.data_dir):
                ctx.pre_execution_errors = [
                    GraphQLError(
                        "this appliance is the standby: make changes on the primary "
                        f"({', '.join(sorted(refused))})",
                        extensions={"code": "STANDBY_READ_ONLY"},
                    )
                ]
        yield
