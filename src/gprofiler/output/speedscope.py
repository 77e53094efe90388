"""speedscope's file format (https://www.speedscope.app/file-format-schema.json) from stack lines.

One `sampled` profile per process (its name, app id and container, as the `.col` tells them apart),
weights in samples (unit `none`), frames shared: `name`, and `file` and `line` where the frame has
them. The frame's kind suffix and the header's metadata are not kept (speedscope has no place for
them); a frame's kind still shows in its name's form for a reader.
"""

import json
from collections.abc import Iterable
from typing import Any

from gprofiler import __version__
from gprofiler.output.frames import split_frame
from gprofiler.output.pprof import StackLine

SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def _profile_name(line: StackLine) -> str:
    name = f"{line.process} ({line.app})" if line.app else line.process
    return f"{name} [{line.container}]" if line.container else name


def to_speedscope(lines: Iterable[StackLine], name: str) -> bytes:
    frames: list[dict[str, Any]] = []
    frame_index: dict[str, int] = {}
    profiles: dict[str, dict[str, Any]] = {}
    for line in lines:
        indexes = []
        for frame in line.frames:
            index = frame_index.get(frame)
            if index is None:
                parts = split_frame(frame)
                entry: dict[str, Any] = {"name": parts.name}
                if parts.file:
                    entry["file"] = parts.file
                if parts.line:
                    entry["line"] = parts.line
                index = frame_index[frame] = len(frames)
                frames.append(entry)
            indexes.append(index)
        title = _profile_name(line)
        profile = profiles.setdefault(
            title,
            {"type": "sampled", "name": title, "unit": "none", "startValue": 0, "endValue": 0,
             "samples": [], "weights": []},
        )  # fmt: skip
        profile["samples"].append(indexes)
        profile["weights"].append(line.count)
        profile["endValue"] += line.count
    document = {
        "$schema": SCHEMA,
        "name": name,
        "exporter": f"gprofiler {__version__}",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        # the busiest process first: speedscope opens the first
        "profiles": sorted(profiles.values(), key=lambda profile: -profile["endValue"]),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
