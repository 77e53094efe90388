"""A self-contained flame graph HTML page (d3-flame-graph, data and libraries inlined)."""

import html
import json
import re
from collections.abc import Iterable, Sequence
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


def build_tree(stacks: Iterable[tuple[Sequence[str], int]], root_name: str = "all") -> dict[str, Any]:
    """Merge stacks into d3-flame-graph's tree: {"n": name, "v": total samples, "c": [children]}."""
    root: dict[str, Any] = {"n": root_name, "v": 0, "c": {}}
    for frames, count in stacks:
        root["v"] += count
        node = root
        for frame in frames:
            children = node["c"]
            child = children.get(frame)
            if child is None:
                child = children[frame] = {"n": frame, "v": 0, "c": {}}
            child["v"] += count
            node = child
    return _children_to_lists(root)


def _children_to_lists(root: dict[str, Any]) -> dict[str, Any]:
    pending = [root]
    while pending:
        node = pending.pop()
        children = list(node["c"].values())
        if children:
            node["c"] = children
            pending.extend(children)
        else:
            del node["c"]
    return root


def _json_for_script(value: Any) -> str:
    """JSON that cannot end the <script> element it sits in."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_html(assets: FlamegraphAssets, tree: dict[str, Any], *, heading: str, subtitle: str) -> str:
    """Fill the template in one pass, so nothing inserted is itself scanned for placeholders."""
    values = {
        "PAGE_TITLE": html.escape(heading),
        "HEADING": html.escape(heading),
        "SUBTITLE": html.escape(subtitle),
        "PROFILE_JSON": _json_for_script(tree),
        **assets.scripts,
    }
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), assets.template)
