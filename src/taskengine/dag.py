"""Dependency graphs of tasks inside a group: pure functions, no cluster needed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle in `node -> nodes it depends on`, as [a, b, ..., a]; None when acyclic.

    Edges to nodes that are not keys are ignored (a missing task is reported elsewhere).
    Iterative, so a long chain of thousands of tasks cannot overflow the stack.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    for root in sorted(edges):
        if colour[root] != white:
            continue
        path: list[str] = [root]
        stack = [iter(sorted(edges[root]))]
        colour[root] = grey
        while stack:
            child = next(stack[-1], None)
            if child is None:
                colour[path.pop()] = black
                stack.pop()
                continue
            if child not in colour:
                continue
            if colour[child] == grey:
                return path[path.index(child):] + [child]
            if colour[child] == white:
                colour[child] = grey
                path.append(child)
                stack.append(iter(sorted(edges[child])))
    return None


def nodes_in_cycles(edges: Mapping[str, Iterable[str]]) -> set[str]:
    """Every node that lies on some cycle (strongly connected components of size > 1, or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: set[str] = set()
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in set(edges[node]):
                    result.update(component)
    return result


def topological_order(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Nodes so that each comes after the nodes it depends on; raises ValueError on a cycle."""
    cycle = find_cycle(edges)
    if cycle:
        raise ValueError("dependency cycle: " + " -> ".join(cycle))
    done: list[str] = []
    seen: set[str] = set()
    for root in sorted(edges):
        stack = [(root, iter(sorted(edges[root])))]
        if root in seen:
            continue
        seen.add(root)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                done.append(node)
            elif child in edges and child not in seen:
                seen.add(child)
                stack.append((child, iter(sorted(edges[child]))))
    return done
