"""Limits on a GraphQL document, each costing time linear in the document's size.

One validation rule measures depth, fields and aliases. Every definition (operation or
fragment) is visited once; a fragment's totals are memoised and a spread adds them, so a
fragment spread twice counts twice (fan-out) without walking it twice: the classic
`fragment F1 { ...F2 ...F2 }` chain costs the server O(document), not 2^levels.
Strawberry's QueryDepthLimiter and MaxAliasesLimiter walk every path through the spreads
(exponential), so neither is used.

The depth counts every field, introspection included: introspection types nest without
end (`types { fields { type { fields … } } }`), the classic depth bomb. GraphiQL's own
introspection query is 12 levels deep in older versions and 15 in the 3.8 we serve (its
TypeRef nests `ofType` deeper; graphql-core's is 15 too), hence the depth limit of 15;
the console's deepest query is 4.

Parsing and validating run in a worker thread for all but small documents, and the
document's size in bytes is bounded before parsing, so no request holds the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from graphql.validation.rules import overlapping_fields_can_be_merged
from graphql.validation.validate import ValidationAbortedError
from starlette.concurrency import run_in_threadpool
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    ValidationContext,
    ValidationRule,
    parse,
    visit,
)

MAX_DEPTH = 15
# GraphiQL's introspection asks for 223 fields, graphql-core's for 229 and the console's
# largest query for about 20; fan-out bombs ask for millions.
MAX_FIELDS = 1000
MAX_ALIASES = 30
MAX_DOCUMENT_BYTES = 64 * 1024
# Below this a document parses and validates in well under a millisecond: not worth a
# thread hop.
INLINE_DOCUMENT_BYTES = 2 * 1024
# Totals saturate here so a hostile document's numbers stay small integers.
_CAP = 10**12
# graphql-core's OverlappingFieldsCanBeMergedRule compares same-named fields pairwise,
# charging a budget it aborts at (500,000 units by default: about a second of CPU for a
# 10 KB document of 300 `tagSuggestions(limit: N)`). No example operation nor GraphiQL's
# introspection needs 100 units; 20,000 keeps such a document to a few tens of ms.
MAX_COMPARISONS = 20_000
overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = MAX_COMPARISONS


def limit_error(what: str, found: int, most: int, message: str) -> GraphQLError:
    """A refusal that names the limit, in the message and in machine-readable form."""
    return GraphQLError(
        message, extensions={"code": "QUERY_LIMIT", "limit": what, "found": found, "max": most}
    )


@dataclass
class _Part:
    """What one definition holds itself, and where it spreads which fragments."""

    node: OperationDefinitionNode | FragmentDefinitionNode
    depth: int = 0
    fields: int = 0
    aliases: int = 0
    spreads: list[tuple[str, int]] = field(default_factory=list)  # (fragment, field level)


@dataclass(frozen=True)
class Totals:
    depth: int
    fields: int
    aliases: int


_NOTHING = Totals(0, 0, 0)


class DocumentLimitsRule(ValidationRule):
    """Depth, field count (fan-out counted) and aliases of each operation; linear time."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._operations: list[_Part] = []
        self._fragments: dict[str, _Part] = {}
        self._current: _Part | None = None
        self._level = 0

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        self._current = _Part(node)
        self._operations.append(self._current)

    def enter_fragment_definition(self, node: FragmentDefinitionNode, *_: Any) -> None:
        self._current = _Part(node)
        # A duplicate name is UniqueFragmentNamesRule's to refuse; the first one counts.
        self._fragments.setdefault(node.name.value, self._current)

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        part = self._current
        if part is None:
            return
        self._level += 1
        part.depth = max(part.depth, self._level)
        part.fields += 1
        part.aliases += node.alias is not None

    def leave_field(self, node: FieldNode, *_: Any) -> None:
        if self._current is not None:
            self._level -= 1

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
        if self._current is not None:
            self._current.spreads.append((node.name.value, self._level))

    def leave_document(self, node: DocumentNode, *_: Any) -> None:
        totals = self._fragment_totals()
        for op in self._operations:
            found = _combine(op, totals)
            if found.depth > MAX_DEPTH:
                self.report_error(
                    limit_error(
                        "depth",
                        found.depth,
                        MAX_DEPTH,
                        f"the query is {found.depth} levels deep; at most {MAX_DEPTH} are allowed",
                    )
                )
            if found.fields > MAX_FIELDS:
                self.report_error(
                    limit_error(
                        "fields",
                        found.fields,
                        MAX_FIELDS,
                        f"the query asks for {_shown(found.fields)} fields (a fragment counts each"
                        f" time it is spread); at most {MAX_FIELDS} are allowed",
                    )
                )
            if found.aliases > MAX_ALIASES:
                self.report_error(
                    limit_error(
                        "aliases",
                        found.aliases,
                        MAX_ALIASES,
                        f"the query uses {_shown(found.aliases)} aliases; at most {MAX_ALIASES}"
                        " are allowed",
                    )
                )

    def _fragment_totals(self) -> dict[str, Totals]:
        """Each fragment's totals, dependencies first (iterative DFS; a cycle counts 0)."""
        done: dict[str, Totals] = {}
        for root in self._fragments:
            if root in done:
                continue
            on_path = {root}
            stack = [(root, iter(self._fragments[root].spreads))]
            while stack:
                name, pending = stack[-1]
                for spread, _ in pending:
                    if spread in done or spread in on_path or spread not in self._fragments:
                        continue  # a cycle is NoFragmentCyclesRule's to refuse
                    on_path.add(spread)
                    stack.append((spread, iter(self._fragments[spread].spreads)))
                    break
                else:
                    stack.pop()
                    on_path.discard(name)
                    done[name] = _combine(self._fragments[name], done)
        return done


def _shown(count: int) -> str:
    return f"more than {_CAP:,}" if count >= _CAP else f"{count:,}"


def _combine(part: _Part, known: dict[str, Totals]) -> Totals:
    depth, fields, aliases = part.depth, part.fields, part.aliases
    for name, level in part.spreads:
        t = known.get(name, _NOTHING)
        depth = max(depth, level + t.depth)
        fields = min(_CAP, fields + t.fields)
        aliases = min(_CAP, aliases + t.aliases)
    return Totals(depth, fields, aliases)


def check_limits(schema: GraphQLSchema, document: DocumentNode) -> list[GraphQLError]:
    """The limits alone: one plain pass over the document, no type information needed."""
    errors: list[GraphQLError] = []
    context = ValidationContext(schema, document, TypeInfo(schema), errors.append)
    visit(document, DocumentLimitsRule(context))
    return errors


class DocumentLimits(SchemaExtension):
    """Bound the document's size, check the limits first, keep big documents off the loop.

    Strawberry parses and validates synchronously in the event loop; these hooks do the
    work first (in a worker thread above a small size) and strawberry then finds the
    document parsed and the validation done. The cheap limits run before graphql-core's
    rules, so a hostile document is refused before the costlier full validation.
    """

    offload = False

    async def on_parse(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        query = ctx.query
        if ctx.graphql_document is None and query:
            size = len(query.encode("utf-8", "surrogatepass"))
            if size > MAX_DOCUMENT_BYTES:
                raise limit_error(
                    "bytes",
                    size,
                    MAX_DOCUMENT_BYTES,
                    f"the query is {size} bytes long; at most {MAX_DOCUMENT_BYTES} are allowed",
                )
            self.offload = size > INLINE_DOCUMENT_BYTES
            if self.offload:
                ctx.graphql_document = await run_in_threadpool(parse, query, **ctx.parse_options)
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and ctx.pre_execution_errors is None:
            schema = ctx.schema._schema
            if self.offload:
                ctx.pre_execution_errors = await run_in_threadpool(
                    self._validate, schema, document, ctx.validation_rules
                )
            else:
                ctx.pre_execution_errors = self._validate(schema, document, ctx.validation_rules)
        yield

    @staticmethod
    def _validate(
        schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
    ) -> list[GraphQLError]:
        errors = check_limits(schema, document) or validate_document(schema, document, rules)
        return [_explained(e) for e in errors]


def _explained(error: GraphQLError) -> GraphQLError:
    """graphql-core's bare "Validation aborted." in words: its comparison budget spent (its
    other cause, nesting past its own bound, cannot pass our depth limit, checked first)."""
    if isinstance(error, ValidationAbortedError) and error.message == "Validation aborted.":
        return limit_error(
            "comparisons",
            MAX_COMPARISONS + 1,
            MAX_COMPARISONS,
            "the query repeats fields (with different arguments or through many fragments)"
            f" beyond {MAX_COMPARISONS} comparisons to check; ask for each field once",
        )
    return error
