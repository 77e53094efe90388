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


def _frames_order(stack: str) -> str:
    return stack.replace(";", "\0")


def flat_tree(stacks: Mapping[str, int]) -> dict[str, Any]:
    """Built from the stacks in sorted order, where the stacks below any node are contiguous: each
    stack only walks back to where it leaves the previous one, and counts go to its last node; the
    totals are summed bottom-up at the end (a child always comes after its parent)."""
    names: dict[str, int] = {ROOT_NAME: 0}
    name_of, value, parent_of = [0], [0], [-1]
    path = [0]  # the nodes of the previous stack, root first
    previous: list[str] = []
    # Sorting the texts with ";" read as the lowest character sorts them as lists of frames (a
    # stack right before the stacks it prefixes) at a quarter of the cost of sorting the lists.
    # Frames hold no control characters (ingest refuses them).
    for stack in sorted(stacks, key=_frames_order):
        frames, count = stack.split(";"), stacks[stack]
        common, limit = 0, min(len(frames), len(previous))
        while common < limit and frames[common] == previous[common]:
            common += 1
        del path[common + 1 :]
        for frame in frames[common:]:
            name = names.get(frame)
            if name is None:
                name = names[frame] = len(names)
            name_of.append(name)
            value.append(0)
            parent_of.append(path[-1])
            path.append(len(value) - 1)
        value[path[-1]] += count
        previous = frames
    for node in range(len(value) - 1, 0, -1):
        value[parent_of[node]] += value[node]
    return {"names": list(names), "name": name_of, "value": value, "parent": parent_of}
