"""A self-contained flame graph HTML page (d3-flame-graph, data and libraries inlined)."""

import base64
import hashlib
import html
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")
_VENDOR_FILES = {"D3_JS": "d3.min.js", "FLAMEGRAPH_JS": "d3-flamegraph.min.js"}


class FlamegraphAssetsMissingError(Exception):
    """The d3 bundles were not copied into the package (run `./dev.sh setup`)."""


@dataclass(frozen=True)
class FlamegraphAssets:
    template: str
    scripts: dict[str, str]


def load_assets() -> FlamegraphAssets:
    """Read the HTML template and the vendored d3 bundles from the package's resources."""
    folder = resources.files("gprofiler") / "resources" / "flamegraph"
    scripts = {}
    for placeholder, name in _VENDOR_FILES.items():
        vendored = folder / "vendor" / name
        if not vendored.is_file():
            raise FlamegraphAssetsMissingError(
                f"flame graph library {name} is missing from the package; build it with "
                "`./dev.sh setup` (or run with --no-flamegraph)"
            )
        scripts[placeholder] = vendored.read_text(encoding="utf-8")
    scripts["FRAME_KINDS_JS"] = folder.joinpath("frame_kinds.js").read_text(encoding="utf-8")
    return FlamegraphAssets(folder.joinpath("template.html").read_text(encoding="utf-8"), scripts)


ROOT_NAME = "all"
# d3-flame-graph walks its tree recursively (search, clear, show: two or three JavaScript frames per
# level) and a browser's stack ends after ~2,500 levels of that. Deeper stacks are drawn with their
# middle replaced by one marker frame; the data (.col, collapsed downloads, the API) keeps them whole.
MAX_DRAWN_DEPTH = 1024
OMITTED_FRAMES = "[frames omitted: stack deeper than 1024]"
_KEPT_ROOT = MAX_DRAWN_DEPTH // 2
_KEPT_LEAF = MAX_DRAWN_DEPTH - _KEPT_ROOT - 1


def drawable_frames(frames: list[str]) -> list[str]:
    """The frames as drawn: at most MAX_DRAWN_DEPTH, the root's and the leaf's ends kept."""
    if len(frames) <= MAX_DRAWN_DEPTH:
        return frames
    return [*frames[:_KEPT_ROOT], OMITTED_FRAMES, *frames[-_KEPT_LEAF:]]


def _frames_order(stack: str) -> str:
    return stack.replace(";", "\0")


def drawable_stacks(stacks: Mapping[str, int]) -> Mapping[str, int]:
    """`stacks` (texts joined by ';') with every stack deeper than MAX_DRAWN_DEPTH shortened."""
    if not any(stack.count(";") >= MAX_DRAWN_DEPTH for stack in stacks):
        return stacks
    drawn: Counter[str] = Counter()
    for stack, count in stacks.items():
        drawn[";".join(drawable_frames(stack.split(";")))] += count
    return drawn


def flat_tree(stacks: Mapping[str, int]) -> dict[str, Any]:
    """Merged stacks (texts of ';'-joined frames, root first; frames hold no control characters)
    as a flat flame-graph tree: frame names once each, and per node its name index, samples and
    parent index, parents before their children, the root (node 0) with parent -1.

    A nested tree ({"n", "v", "c": [...]}) nests two JSON levels per frame, and JSON encoders and
    decoders stop at some depth (orjson at 255 levels, Python's json at ~1,000); the flat form has
    no depth at all, and a page nests it again in one loop.

    Built from the stacks in sorted order, where the stacks below any node are contiguous: each stack
    only walks back to where it leaves the previous one, and counts go to its last node; the totals
    are summed bottom-up at the end (a child always comes after its parent).
    """
    names: dict[str, int] = {ROOT_NAME: 0}
    name_of, value, parent_of = [0], [0], [-1]
    path = [0]  # the nodes of the previous stack, root first
    previous: list[str] = []
    # Sorting the texts with ";" read as the lowest character sorts them as lists of frames (a
    # stack right before the stacks it prefixes) at a quarter of the cost of sorting the lists.
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


def nested_tree_json(flat: Mapping[str, Any]) -> str:
    """d3-flame-graph's nested tree ({"n": name, "v": samples, "c": [children]}) as JSON text, written
    in one loop over the flat tree: no recursion, so any depth (the json module stops at ~500 frames)."""
    names = [json.dumps(name, ensure_ascii=False) for name in flat["names"]]
    out: list[str] = []
    open_nodes: list[list[int]] = []  # [node, children written] from the root down
    nodes = zip(flat["name"], flat["value"], flat["parent"], strict=True)
    for node, (name, samples, parent) in enumerate(nodes):
        while open_nodes and open_nodes[-1][0] != parent:
            out.append("]}" if open_nodes.pop()[1] else "}")
        if open_nodes:
            out.append("," if open_nodes[-1][1] else ',"c":[')
            open_nodes[-1][1] += 1
        out.append(f'{{"n":{names[name]},"v":{samples}')
        open_nodes.append([node, 0])
    while open_nodes:
        out.append("]}" if open_nodes.pop()[1] else "}")
    return "".join(out)


def _json_for_script(value: Any) -> str:
    """JSON that cannot end the <script> element it sits in."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script", re.DOTALL | re.IGNORECASE)


def flamegraph_policy(assets: FlamegraphAssets) -> str:
    """A Content-Security-Policy for the page when a server sends it: its own inline scripts (by
    hash, they do not depend on the data) and nothing else, no network at all."""
    page = render_html(assets, {}, heading="", subtitle="")
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def render_html(assets: FlamegraphAssets, stacks: Mapping[str, int], *, heading: str, subtitle: str) -> str:
    """The page for merged stacks (';'-joined texts, root first), the data as a flat tree.

    The template is filled in one pass, so nothing inserted is itself scanned for placeholders."""
    values = {
        "PAGE_TITLE": html.escape(heading),
        "HEADING": html.escape(heading),
        "SUBTITLE": html.escape(subtitle),
        "PROFILE_JSON": _json_for_script(flat_tree(drawable_stacks(stacks))),
        **assets.scripts,
    }
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), assets.template)
