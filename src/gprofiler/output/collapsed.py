"""gProfiler's collapsed-stack file format, version 2 (`profile_<time>.col`).

Line 1 is `# ` followed by a JSON header. Every other line is one distinct stack of one process:

    <app-metadata index>;<container name or empty>;<comm>;<root frame>;...;<leaf frame> <count>

The app-metadata index points into the header's `application_metadata` list (index 0 is `null`,
"nothing known"). Frames were escaped when they entered a stack (`stacks.escaping`), so a line can
always be split on `;` and on its last space.
"""

import json
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from gprofiler.stacks.escaping import escape_frame
from gprofiler.stacks.model import PidStacks
from gprofiler.stacks.tool_output import MAX_COUNT, split_count

NO_APP_METADATA_INDEX = 0
MAX_LINE_BYTES = 1024 * 1024  # studio refuses longer stack lines
EMPTY_FRAME = "[empty]"
TRUNCATED_FRAME = "[truncated]"


def profile_header(
    *,
    metadata: Mapping[str, Any],
    metrics: Mapping[str, Any],
    start_time: datetime,
    end_time: datetime,
    containers: Iterable[str] = (),
    container_names_enabled: bool = False,
    application_metadata: list[dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The JSON header of one cycle's profile, with gProfiler's field names."""
    return {
        "start_time": start_time.isoformat(),
        "end_time": end_time.isoformat(),
        "containers": sorted(set(containers)),
        "container_names_enabled": container_names_enabled,
        "metadata": dict(metadata),
        "metrics": dict(metrics),
        # Index 0 is null: "nothing known about this process".
        "application_metadata": application_metadata or [None],
        "application_metadata_enabled": True,
    }


def metadata_table(
    metadata_by_pid: Mapping[int, dict[str, Any] | None],
) -> tuple[list[dict[str, Any] | None], dict[int, int]]:
    """The header's `application_metadata` list (equal entries shared) and each PID's index in it."""
    table: list[dict[str, Any] | None] = [None]
    positions: dict[str, int] = {}
    index_of: dict[int, int] = {}
    for pid, metadata in sorted(metadata_by_pid.items()):
        if not metadata:
            index_of[pid] = NO_APP_METADATA_INDEX
            continue
        key = json.dumps(metadata, sort_keys=True)
        if key not in positions:
            positions[key] = len(table)
            table.append(metadata)
        index_of[pid] = positions[key]
    return table, index_of


def format_collapsed(
    header: Mapping[str, Any],
    stacks: PidStacks,
    container_of: Callable[[int], str] = lambda pid: "",
    app_index_of: Mapping[int, int] | None = None,
) -> str:
    """The whole `.col` text: header line, then one line per (process, stack), ordered by PID.

    Every line is one studio accepts (`written_stack`)."""
    lines = ["# " + json.dumps(header, separators=(",", ":"), ensure_ascii=False)]
    for prefix, stack, count in written_lines(stacks, container_of, app_index_of or {}):
        lines.append(f"{prefix}{stack} {count}")
    return "\n".join(lines) + "\n"


def written_lines(
    stacks: PidStacks, container_of: Callable[[int], str], app_index_of: Mapping[int, int]
) -> Iterator[tuple[str, str, int]]:
    """(`<app index>;<container>;`, the stack's text, its count) of each line of a `.col` text."""
    for pid in sorted(stacks):
        prefix = f"{app_index_of.get(pid, NO_APP_METADATA_INDEX)};{escape_frame(container_of(pid))};"
        room = MAX_LINE_BYTES - len(prefix.encode()) - len(f" {MAX_COUNT}")
        for stack, count in stacks[pid].items():
            if count > 0:
                yield prefix, written_stack(stack, room), min(count, MAX_COUNT)


def written_stack(stack: Sequence[str], room: int) -> str:
    """A stack's text as the `.col` holds it: an empty name (a process can name itself "") shows as
    `[empty]`, and a stack longer than `room` UTF-8 bytes keeps its process name (and app id frame)
    and its leaf-most frames after a `[truncated]` frame, as JFR cuts deep stacks at the root."""
    text = ";".join(stack)
    if not text or ";;" in text or text[0] == ";" or text[-1] == ";":
        stack = [frame or EMPTY_FRAME for frame in stack]
        text = ";".join(stack)
    if len(text) * 4 <= room or len(text.encode()) <= room:
        return text
    # the app id frame says which app the process serves: studio files the stack under it
    head = [
        frame[: room // 8] for frame in stack[: 2 if stack[1:2] and stack[1].startswith("appid: ") else 1]
    ]
    kept: list[str] = []
    left = room - sum(len(frame.encode()) + 1 for frame in head) - len(TRUNCATED_FRAME) - 1
    for frame in reversed(stack[len(head) :]):
        left -= len(frame.encode()) + 1
        if left < 0:
            break
        kept.append(frame)
    if not kept and len(stack) > len(head):  # one frame longer than a line: the start of its name
        kept.append(stack[-1][: room // 8])
    return ";".join([*head, TRUNCATED_FRAME, *reversed(kept)])


def read_header(text: str) -> dict[str, Any]:
    """The JSON header of a `.col` text; ValueError if there is none."""
    first_line = text.split("\n", 1)[0]
    if not first_line.startswith("#"):
        raise ValueError("not a gProfiler collapsed file: the first line is not a '# {json}' header")
    header = json.loads(first_line[1:])
    if not isinstance(header, dict):
        raise ValueError("the collapsed file header is not a JSON object")
    return header


def display_stacks(text: str) -> Counter[str]:
    """Stacks of a `.col` text as a person should see them in a local flame graph, merged: frames
    joined by ';', root first. The app-metadata index is dropped, and so is the container frame
    when it is empty."""
    stacks: Counter[str] = Counter()
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        parsed = split_count(line)
        if parsed is None:
            continue
        _index, _, rest = parsed[0].partition(";")
        container, _, frames = rest.partition(";")
        if not frames:
            continue
        stacks[f"{container};{frames}" if container else frames] += parsed[1]
    return stacks


def display_stacks_of(
    stacks: PidStacks, container_of: Callable[[int], str], app_index_of: Mapping[int, int]
) -> Counter[str]:
    """What `display_stacks` reads from the `.col` text of these stacks, without writing it."""
    shown: Counter[str] = Counter()
    for prefix, frames, count in written_lines(stacks, container_of, app_index_of):
        container = prefix.split(";", 2)[1]
        if frames:
            shown[f"{container};{frames}" if container else frames] += count
    return shown


def stack_fields(text: str) -> Iterator[tuple[str, str, str, int]]:
    """(app index as written, container, stack, count) of each line of a `.col` text after its
    header; lines without a count are skipped."""
    for line in text.split("\n")[1:]:
        parsed = split_count(line)
        if parsed is None:
            continue
        index, _, rest = parsed[0].partition(";")
        container, _, stack = rest.partition(";")
        yield index, container, stack, parsed[1]


def read_app_index(written: str) -> int:
    return int(written) if written.isascii() and written.isdigit() else NO_APP_METADATA_INDEX


def pid_runs(
    lines: Iterable[tuple[Hashable, int, str, tuple[str, ...], int]],
) -> tuple[PidStacks, dict[int, str], dict[int, int]]:
    """Stack lines in file order, each (run key, app index, container, stack, count), as (stacks,
    container by PID, app index by PID). The file has no PIDs: each run of lines with the same key
    and no stack twice becomes one made-up PID (1, 2, ...), so that `format_collapsed` of the result
    writes the same lines again."""
    stacks: PidStacks = {}
    containers: dict[int, str] = {}
    indexes: dict[int, int] = {}
    previous: Hashable = None
    for key, index, container, stack, count in lines:
        if key != previous or stack in stacks[len(stacks)]:
            previous = key
            pid = len(stacks) + 1
            stacks[pid], containers[pid], indexes[pid] = Counter(), container, index
        stacks[len(stacks)][stack] = count
    return stacks, containers, indexes


def read_collapsed(text: str) -> tuple[dict[str, Any], PidStacks, dict[int, str], dict[int, int]]:
    """A `.col` text back as (header, stacks, container by PID, app index by PID), PIDs made up by
    `pid_runs`."""
    header = read_header(text)
    lines = (
        ((index, container), read_app_index(index), container, tuple(stack.split(";")), count)
        for index, container, stack, count in stack_fields(text)
    )
    return (header, *pid_runs(lines))


def format_plain_collapsed(stacks: PidStacks) -> Iterator[str]:
    """`comm;frame;...;frame count` lines merged across processes, sorted (perf-collapse output)."""
    merged: dict[tuple[str, ...], int] = {}
    for counts in stacks.values():
        for stack, count in counts.items():
            merged[stack] = merged.get(stack, 0) + count
    for stack in sorted(merged):
        yield f"{';'.join(stack)} {merged[stack]}"
