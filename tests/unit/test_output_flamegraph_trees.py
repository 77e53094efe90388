"""The flat flame-graph tree (the HTML page's and the web UI's) and the nested JSON tree hold exactly
the merged stacks, at any depth."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

from gprofiler.output.flamegraph import (
    MAX_DRAWN_DEPTH,
    OMITTED_FRAMES,
    drawable_frames,
    drawable_stacks,
    flat_tree,
    nested_tree_json,
)

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


def _reference_tree(stacks: dict[str, int]) -> dict[str, Any]:
    """The nested tree, built the obvious way."""
    root: dict[str, Any] = {"n": "all", "v": 0}
    for stack, count in stacks.items():
        root["v"] += count
        node = root
        for frame in stack.split(";"):
            children = node.setdefault("c", [])
            child = next((c for c in children if c["n"] == frame), None)
            if child is None:
                child = {"n": frame, "v": 0}
                children.append(child)
            child["v"] += count
            node = child
    return root


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
    nested = _reference_tree(stacks)
    assert _canonical(_nest(flat)) == _canonical(nested)
    # the nested JSON written in one loop is the same tree
    assert _canonical(json.loads(nested_tree_json(flat))) == _canonical(nested)


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


def test_nested_json_of_a_5000_frame_stack() -> None:
    """json.dumps of such a tree raises RecursionError; the loop writes it."""
    deep = ";".join(f"f{depth}" for depth in range(5000))
    text = nested_tree_json(flat_tree({deep: 7, "x": 1}))
    assert text.startswith('{"n":"all","v":8,"c":[')
    assert text.count('"c":[') == 5000  # the root and every frame of the deep stack but its leaf
    assert text.endswith('{"n":"f4999","v":7}' + "]}" * 4999 + ',{"n":"x","v":1}]}')
    assert text.count("{") == text.count("}") == 5002
    assert '{"n":"f4999","v":7}' in text
    # unnested by hand (json.loads would recurse too): every frame, in order, with its count
    names = [part.split('"', 1)[0] for part in text.split('{"n":"')[1:]]
    assert names[:2] == ["all", "f0"] and "f4999" in names and len(names) == 5002


def test_empty_tree_json() -> None:
    assert json.loads(nested_tree_json(flat_tree({}))) == {"n": "all", "v": 0}


def test_deep_stacks_are_drawn_with_their_middle_omitted() -> None:
    frames = [f"f{depth}" for depth in range(5000)]
    drawn = drawable_frames(frames)
    assert len(drawn) == MAX_DRAWN_DEPTH
    assert drawn[0] == "f0" and drawn[-1] == "f4999"  # the entry point and the leaf stay
    assert drawn.count(OMITTED_FRAMES) == 1
    shallow = [f"f{depth}" for depth in range(MAX_DRAWN_DEPTH)]
    assert drawable_frames(shallow) is shallow
    # deep stacks sharing both ends merge; shallow ones are untouched
    stacks = {";".join(frames): 2, ";".join(frames[:10] + frames[-4000:]): 3, "a;b": 1}
    drawn_stacks = drawable_stacks(stacks)
    assert sum(drawn_stacks.values()) == 6 and drawn_stacks["a;b"] == 1
    assert max(stack.count(";") + 1 for stack in drawn_stacks) == MAX_DRAWN_DEPTH
