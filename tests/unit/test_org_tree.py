"""The organisation tree's functions: descendants, cycles and the device a department records on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.organization import effective_device, with_descendants, would_cycle


@st.composite
def forests(draw) -> dict[int, int | None]:
    """A tree or forest: each node's parent is an earlier node or none."""
    size = draw(st.integers(1, 30))
    parents: dict[int, int | None] = {0: None}
    for node in range(1, size):
        parents[node] = draw(st.one_of(st.none(), st.integers(0, node - 1)))
    return parents


def _ancestors(node: int, parents: dict[int, int | None]) -> list[int]:
    out = []
    parent = parents[node]
    while parent is not None:
        out.append(parent)
        parent = parents[parent]
    return out


@given(forests(), st.data())
def test_descendants_are_exactly_the_nodes_below_a_root(parents, data):
    roots = data.draw(st.sets(st.sampled_from(sorted(parents)), max_size=3))
    got = with_descendants(roots, parents)
    expected = {n for n in parents if n in roots or set(_ancestors(n, parents)) & roots}
    assert got == expected


def test_unknown_roots_are_ignored():
    assert with_descendants([7], {1: None}) == frozenset()


@given(forests(), st.data())
def test_a_move_cycles_exactly_when_the_new_parent_is_the_node_or_below_it(parents, data):
    node = data.draw(st.sampled_from(sorted(parents)))
    new_parent = data.draw(st.one_of(st.none(), st.sampled_from(sorted(parents))))
    below = with_descendants([node], parents)
    assert would_cycle(node, new_parent, parents) == (
        new_parent is not None and new_parent in below
    )


def test_cycle_check_ends_on_a_corrupt_tree():
    assert would_cycle(9, 1, {1: 2, 2: 1}) is False


@given(forests(), st.data())
def test_a_department_records_on_its_own_device_else_the_nearest_ancestors(parents, data):
    devices = {n: data.draw(st.one_of(st.none(), st.integers(100, 105))) for n in parents}
    node = data.draw(st.sampled_from(sorted(parents)))
    expected = next(
        (devices[n] for n in [node, *_ancestors(node, parents)] if devices[n] is not None), None
    )
    assert effective_device(node, parents, devices) == expected
