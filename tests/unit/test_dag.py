"""Dependency graphs inside a group."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from taskengine import dag


def test_chain_has_no_cycle_and_runs_in_order() -> None:
    edges = {"report": ["verify"], "verify": ["backup"], "backup": []}

    assert dag.find_cycle(edges) is None
    assert dag.nodes_in_cycles(edges) == set()
    assert dag.topological_order(edges) == ["backup", "verify", "report"]


def test_two_task_cycle_is_named_in_order() -> None:
    edges = {"backup": ["verify"], "verify": ["backup"], "report": ["verify"]}

    assert dag.find_cycle(edges) == ["backup", "verify", "backup"]
    assert dag.nodes_in_cycles(edges) == {"backup", "verify"}


def test_self_dependency_is_a_cycle() -> None:
    assert dag.nodes_in_cycles({"a": ["a"]}) == {"a"}
    assert dag.find_cycle({"a": ["a"]}) == ["a", "a"]


def test_dependencies_on_unknown_tasks_are_ignored_here() -> None:
    assert dag.find_cycle({"a": ["missing"]}) is None
    assert dag.topological_order({"a": ["missing"]}) == ["a"]


def test_long_chain_does_not_overflow_the_stack() -> None:
    edges = {f"t{i}": [f"t{i - 1}"] if i else [] for i in range(20_000)}

    assert dag.topological_order(edges)[-1] == "t19999"
    edges["t0"] = ["t19999"]
    assert len(dag.nodes_in_cycles(edges)) == 20_000


@given(st.integers(min_value=1, max_value=30).flatmap(
    lambda n: st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60).map(lambda pairs: (n, pairs))
))
def test_order_respects_every_edge_of_an_acyclic_graph(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, pairs = case
    # only edges from a higher to a lower number: acyclic by construction
    edges = {f"n{i}": sorted({f"n{b}" for a, b in pairs if a == i and b < a}) for i in range(n)}

    order = dag.topological_order(edges)

    assert sorted(order) == sorted(edges)
    position = {node: index for index, node in enumerate(order)}
    assert all(position[dep] < position[node] for node, deps in edges.items() for dep in deps)


@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), max_size=30))
def test_cycle_found_exactly_when_some_node_is_in_a_cycle(pairs: list[tuple[int, int]]) -> None:
    edges = {f"n{i}": sorted({f"n{b}" for a, b in pairs if a == i}) for i in range(9)}

    cycle = dag.find_cycle(edges)
    in_cycles = dag.nodes_in_cycles(edges)

    assert (cycle is None) == (not in_cycles)
    if cycle:
        assert cycle[0] == cycle[-1]
        assert all(b in edges[a] for a, b in zip(cycle, cycle[1:]))
        assert set(cycle) <= in_cycles
