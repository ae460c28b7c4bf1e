"""The document limits: exact counts with fan-out, linear time, and room for real queries."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from appliance.api.graphql.limits import MAX_DEPTH, MAX_FIELDS, check_limits
from appliance.api.graphql.schema import schema
from graphql import get_introspection_query, parse

OPERATIONS = sorted((Path(__file__).parents[2] / "graphql" / "operations").glob("*.graphql"))


def _errors(query: str) -> list[dict]:
    return [e.extensions or {} for e in check_limits(schema._schema, parse(query))]


def _chain(levels: int, spreads: int) -> str:
    body = lambda i: "login " + f"...F{i + 1} " * spreads  # noqa: E731
    fragments = " ".join(f"fragment F{i} on User {{ {body(i)}}}" for i in range(levels))
    return f"query {{ me {{ ...F0 }} }} {fragments} fragment F{levels} on User {{ login }}"


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: p.stem)
def test_every_example_operation_is_within_the_limits(path):
    assert _errors(path.read_text(encoding="utf-8")) == []


def test_graphiql_introspection_is_within_the_limits():
    # graphql-core's query nests TypeRef deeper than graphql-js's (GraphiQL's: 12 levels).
    query = get_introspection_query(descriptions=True, specified_by_url=True, directive_is_repeatable=True,
                                    schema_description=True, input_value_deprecation=True)
    assert _errors(query) == []


def test_fan_out_is_counted_exactly_and_each_spread_counts():
    # me + (login + 2 x next) per level: 1 + (2^(n+1) - 1) fields.
    found = _errors(_chain(9, 2))
    assert found == [{"code": "QUERY_LIMIT", "limit": "fields", "found": 2**10, "max": MAX_FIELDS}]
    assert _errors(_chain(8, 2)) == []  # 512 fields
    three = _errors(_chain(6, 3))  # 1 + (3^7 - 1) / 2
    assert three[0]["found"] == 1 + (3**7 - 1) // 2


def test_depth_counts_fields_through_fragments_and_introspection():
    nested = "fragment T on __Type { ofType { ...U } } fragment U on __Type { ofType { name } }"
    ok = "{ __schema { types { " + "ofType { " * 10 + "name" + " }" * 10 + " } } }"
    assert _errors(ok) == []  # 13 levels
    deep = "{ __schema { types { " + "ofType { " * 12 + "...T" + " }" * 12 + " } } } " + nested
    found = _errors(deep)
    assert found[0]["limit"] == "depth" and found[0]["found"] == 2 + 12 + 3 > MAX_DEPTH


def test_cycles_end_and_huge_counts_stay_small():
    cyclic = "query { me { ...A } } fragment A on User { login ...B ...B } fragment B on User { login ...A ...A }"
    assert _errors(cyclic) == []  # NoFragmentCyclesRule refuses it; here it must only end
    capped = _errors(_chain(200, 3))
    assert capped[0]["found"] == 10**12


def test_time_grows_linearly_with_the_levels():
    def best_of_3(levels: int) -> float:
        document = parse(_chain(levels, 2))
        times = []
        for _ in range(3):
            started = time.perf_counter()
            check_limits(schema._schema, document)
            times.append(time.perf_counter() - started)
        return min(times)

    small, large = best_of_3(50), best_of_3(400)
    # 8x the levels; walking paths would be 2^350 times slower, linear is ~8x.
    assert large < small * 30 + 0.01, (small, large)
    assert large < 0.5


def test_repeated_fields_with_different_arguments_spend_the_comparison_budget():
    from appliance.api.graphql.limits import MAX_COMPARISONS, DocumentLimits
    from graphql import specified_rules

    query = "query { " + " ".join(f"tagSuggestions(limit: {i})" for i in range(300)) + " }"
    errors = DocumentLimits._validate(schema._schema, parse(query), tuple(specified_rules))
    assert [e.extensions for e in errors] == [
        {"code": "QUERY_LIMIT", "limit": "comparisons", "found": MAX_COMPARISONS + 1, "max": MAX_COMPARISONS}
    ]
