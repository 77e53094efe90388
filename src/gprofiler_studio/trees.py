"""Merged stacks as the web UI's flame-graph tree, in a flat form.

A nested tree ({"n", "v", "c": [...]}) nests two JSON levels per frame, and JSON encoders stop at a
depth (orjson at 255 levels: stacks deeper than ~127 frames, which JVMs and recursive code reach).
The flat form has none: frame names once each, and per node its name index, samples and parent
index (parents come before their children, the root is node 0 with parent -1). The browser nests
it again in one pass.
"""

from collections.abc import Mapping
from typing import Any

ROOT_NAME = "all"


def flat_tree(stacks: Mapping[str, int]) -> dict[str, Any]:
    names: dict[str, int] = {ROOT_NAME: 0}
    name_of, value, parent_of = [0], [0], [-1]
    child_of: dict[tuple[int, int], int] = {}  # (parent node, name index) -> node
    for stack, count in stacks.items():
        value[0] += count
        node = 0
        for frame in stack.split(";"):
            name = names.get(frame)
            if name is None:
                name = names[frame] = len(names)
            key = (node, name)
            child = child_of.get(key)
            if child is None:
                child = child_of[key] = len(value)
                name_of.append(name)
                value.append(0)
                parent_of.append(node)
            value[child] += count
            node = child
    return {"names": list(names), "name": name_of, "value": value, "parent": parent_of}
