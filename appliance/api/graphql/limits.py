"""A depth limit that counts every field, introspection included.

Strawberry's QueryDepthLimiter skips `__schema`/`__type`, yet introspection types nest
without end (`types { fields { type { fields … } } }`), which is the classic depth bomb.
GraphiQL's own introspection query is 12 levels deep, hence the limit of 15.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

MAX_DEPTH = 15


def _depth(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> int:
    if selection_set is None:
        return 0
    deepest = 0
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            deepest = max(deepest, 1 + _depth(node.selection_set, fragments, seen))
        elif isinstance(node, InlineFragmentNode):
            deepest = max(deepest, _depth(node.selection_set, fragments, seen))
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                deepest = max(deepest, _depth(fragment.selection_set, fragments, seen | {name}))
        if deepest > MAX_DEPTH:
            break
    return deepest


class MaxDepthRule(ValidationRule):
    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._fragments = {
            d.name.value: d
            for d in context.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        depth = _depth(node.selection_set, self._fragments, frozenset())
        if depth > MAX_DEPTH:
            self.report_error(
                GraphQLError(
                    f"the query is {depth} levels deep; at most {MAX_DEPTH} are allowed", node
                )
            )
