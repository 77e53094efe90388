"""The web UI's flat flame-graph tree holds exactly what the agent's nested tree does."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

from gprofiler.output.flamegraph import build_tree
from gprofiler_studio.trees import flat_tree

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "perf_script"


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """What studio.js's nestTree does, in Python."""
    nodes: list[dict[str, Any]] = []
    for name, value, parent in zip(flat["name"], flat["value"], flat["parent"], strict=True):
        node = {"n": flat["names"][name], "v": value}
        nodes.append(node)
        if parent >= 0:
            assert parent < len(nodes) - 1  # parents come first
            nodes[parent].setdefault("c", []).append(node)
    return nodes[0]


def _canonical(node: dict[str, Any]) -> Any:
    return (node["n"], node["v"], sorted(_canonical(child) for child in node.get("c", [])))


def test_flat_tree_nests_back_into_the_agent_tree() -> None:
    stacks: Counter[str] = Counter()
    for path in FIXTURES.glob("*.collapsed"):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            stacks[stack] += int(count)
    assert len(stacks) > 10
    flat = flat_tree(stacks)
    assert len(flat["names"]) == len(set(flat["names"]))  # each name sent once
    nested = build_tree((stack.split(";"), count) for stack, count in stacks.items())
    assert _canonical(_nest(flat)) == _canonical(nested)


def test_deep_stacks_have_no_nesting_limit() -> None:
    deep = ";".join(f"frame_{depth}" for depth in range(2000))
    flat = flat_tree({deep: 3, "other;leaf": 1})
    encoded = json.loads(json.dumps(flat))
    assert len(encoded["value"]) == 1 + 2000 + 2 and encoded["value"][0] == 4
    assert _nest(encoded)["c"][0]["v"] == 3


def test_empty() -> None:
    assert flat_tree({}) == {"names": ["all"], "name": [0], "value": [0], "parent": [-1]}


def test_frames_sharing_a_prefix_of_characters_stay_one_node() -> None:
    """ "a!" sorts between "a" and "a;x" as text; the tree must still have one "a"."""
    flat = flat_tree({"a": 1, "a!;y": 2, "a;x": 4, "a;x;z": 8, "a ;q": 16})
    root = _nest(flat)
    assert sorted(child["n"] for child in root["c"]) == ["a", "a ", "a!"]
    (a,) = (child for child in root["c"] if child["n"] == "a")
    assert a["v"] == 13 and [(c["n"], c["v"]) for c in a["c"]] == [("x", 12)]
