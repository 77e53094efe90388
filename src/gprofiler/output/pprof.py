"""pprof's `profile.proto` (gzipped) from a `.col` text, and a `.col` text from pprof.

To pprof, from each stack line `index;container;comm;[appid: APP;]frames count`:
- two sample types, `samples/count` (the count) and `cpu/nanoseconds` (count x period, the period
  being 1e9 / the sampling frequency), and `period_type` cpu/nanoseconds;
- sample labels `process` (comm), `app` (the app id, when the stack has one) and `container` (when
  it is not empty), and the numeric label `app_metadata` (the line's index into the header's
  `application_metadata`, when not 0);
- the frames below them, leaf first: one Location per (function, line), one Function per (name,
  kind, file). The Function's `name` is the bare name, its `system_name` the name with the frame's
  kind suffix (`gp_leaf_[p]`, `vfs_read_[k]`), its `filename` the file where the frame has one;
- `time_nanos` and `duration_nanos` from the header's times, and the header itself as the
  profile's first comment, so that a conversion back gives the same `.col` text.
From pprof (ours, or any tool's, e.g. Go's `runtime/pprof`):
- the count of a sample is its `samples` value (or, without one, the first `count` value, else the
  first value): other values are lost;
- frames are Lines root first, inlined ones included: a frame with a kind suffix in its
  `system_name` is rebuilt in that kind's form, any other as `name (file:line)` where there is a
  file, else `name`; labels other than the three above are lost;
- the process is the `process` label, else `process` given (default: the main mapping's file name).
Every name is escaped for the collapsed format; a pprof whose indexes or ids do not resolve is
refused (PprofError), as is one that does not parse.
"""

import gzip
import json
import os
import zlib
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from gprofiler.output import profile_pb2
from gprofiler.output.collapsed import (
    NO_APP_METADATA_INDEX,
    format_collapsed,
    pid_runs,
    read_app_index,
    read_header,
    stack_fields,
)
from gprofiler.output.frames import FrameParts, frame_text, split_frame
from gprofiler.stacks.escaping import escape_frame
from gprofiler.stacks.tool_output import MAX_COUNT

APP_PREFIX = "appid: "
HEADER_COMMENT = "gprofiler collapsed header: "
DEFAULT_FREQUENCY = 11  # the agent's default, for a header that does not say
MAX_PPROF_BYTES = 256 * 1024 * 1024  # inflated


class PprofError(ValueError):
    pass


@dataclass(frozen=True)
class StackLine:
    """One line of a `.col` text, split."""

    app_index: int
    container: str
    process: str
    app: str  # "" without an app id frame
    frames: tuple[str, ...]  # root first, below the process (and app id)
    count: int


def split_stack(stack: str, count: int, container: str = "", app_index: int = 0) -> StackLine:
    """`comm;[appid: APP;]frame;...` (a stack as studio stores it) as a StackLine."""
    process, *frames = stack.split(";")
    app = ""
    if frames and frames[0].startswith(APP_PREFIX):
        app, frames = frames[0][len(APP_PREFIX) :], frames[1:]
    return StackLine(app_index, container, process, app, tuple(frames), count)


def stack_lines(text: str) -> Iterator[StackLine]:
    """The stack lines of a `.col` text (the header line and malformed lines skipped)."""
    for index, container, stack, count in stack_fields(text):
        if stack:
            yield split_stack(stack, count, container, read_app_index(index))


def frequency_of(header: dict[str, Any]) -> int:
    """The sampling frequency the agent ran with (its run arguments), else the default."""
    metadata = header.get("metadata")
    arguments = metadata.get("run_arguments") if isinstance(metadata, dict) else None
    frequency = arguments.get("frequency") if isinstance(arguments, dict) else None
    if isinstance(frequency, int) and not isinstance(frequency, bool) and 0 < frequency <= 100_000:
        return frequency
    return DEFAULT_FREQUENCY


def _nanos(header: dict[str, Any], key: str) -> int | None:
    value = header.get(key)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


class _Strings:
    def __init__(self, profile: profile_pb2.Profile) -> None:
        self._profile, self._index = profile, {"": 0}
        profile.string_table.append("")

    def __call__(self, text: str) -> int:
        index = self._index.get(text)
        if index is None:
            index = self._index[text] = len(self._profile.string_table)
            self._profile.string_table.append(text)
        return index


def to_pprof(header: dict[str, Any], lines: Iterable[StackLine], frequency: int | None = None) -> bytes:
    """The gzipped pprof of these stack lines (see the module's description)."""
    profile = profile_pb2.Profile()
    string = _Strings(profile)
    period = round(1e9 / (frequency or frequency_of(header)))
    profile.sample_type.add(type=string("samples"), unit=string("count"))
    profile.sample_type.add(type=string("cpu"), unit=string("nanoseconds"))
    profile.period_type.type, profile.period_type.unit = string("cpu"), string("nanoseconds")
    profile.period = period
    start, end = _nanos(header, "start_time"), _nanos(header, "end_time")
    if start is not None:
        profile.time_nanos = start
        if end is not None and end >= start:
            profile.duration_nanos = end - start
    profile.comment.append(string(HEADER_COMMENT + json.dumps(header, separators=(",", ":"))))
    profile.mapping.add(
        id=1, filename=string("gprofiler"), has_functions=True, has_filenames=True, has_line_numbers=True
    )
    functions: dict[tuple[str, str, str], int] = {}
    locations: dict[str, int] = {}  # by frame text
    keys = {name: string(name) for name in ("process", "app", "container", "app_metadata")}

    def location_of(frame: str) -> int:
        found = locations.get(frame)
        if found is not None:
            return found
        parts = split_frame(frame)
        key = (parts.name, parts.kind, parts.file)
        function = functions.get(key)
        if function is None:
            function = functions[key] = len(functions) + 1
            suffix = f"_[{parts.kind}]" if parts.kind else ""
            profile.function.add(
                id=function, name=string(parts.name), system_name=string(parts.name + suffix),
                filename=string(parts.file),
            )  # fmt: skip
        location = locations[frame] = len(locations) + 1
        profile.location.add(id=location, mapping_id=1).line.add(function_id=function, line=parts.line)
        return location

    for line in lines:
        sample = profile.sample.add()
        sample.location_id.extend(location_of(frame) for frame in reversed(line.frames))
        sample.value.extend((line.count, line.count * period))
        sample.label.add(key=keys["process"], str=string(line.process))
        if line.app:
            sample.label.add(key=keys["app"], str=string(line.app))
        if line.container:
            sample.label.add(key=keys["container"], str=string(line.container))
        if line.app_index:
            sample.label.add(key=keys["app_metadata"], num=line.app_index)
    return gzip.compress(profile.SerializeToString(), compresslevel=6)


def col_to_pprof(text: str, frequency: int | None = None) -> bytes:
    return to_pprof(read_header(text), stack_lines(text), frequency)


def parse_pprof(data: bytes, limit: int = MAX_PPROF_BYTES) -> profile_pb2.Profile:
    """A pprof file (gzipped or not) as its message; PprofError if it is not one."""
    if data[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(data, limit + 1)
        except zlib.error as error:
            raise PprofError(f"not a gzipped pprof: {error}") from None
        if len(data) > limit or inflater.unconsumed_tail:
            raise PprofError(f"the pprof inflates to more than {limit} bytes")
        if not inflater.eof:
            raise PprofError("not a whole gzipped pprof: the gzip stream is truncated")
    profile = profile_pb2.Profile()
    try:
        profile.ParseFromString(data)
    except Exception as error:  # protobuf's DecodeError, and its C parser's other refusals
        raise PprofError(f"not a pprof profile: {error}") from None
    return profile


class _Reader:
    """Index and id lookups of one pprof that refuse what does not resolve."""

    def __init__(self, profile: profile_pb2.Profile) -> None:
        self.profile = profile
        self.strings = list(profile.string_table)
        self.functions = {function.id: function for function in profile.function}
        self.locations = {location.id: location for location in profile.location}
        self._frames: dict[int, list[str]] = {}

    def string(self, index: int) -> str:
        if not 0 <= index < len(self.strings):
            raise PprofError(f"string index {index} outside the table of {len(self.strings)}")
        return self.strings[index]

    def frames(self, location_id: int) -> list[str]:
        """The frames of a location, caller first (a location holds its inlined calls)."""
        cached = self._frames.get(location_id)
        if cached is not None:
            return cached
        location = self.locations.get(location_id)
        if location is None:
            raise PprofError(f"no location {location_id}")
        frames = []
        for line in reversed(location.line):
            function = self.functions.get(line.function_id)
            if function is None:
                raise PprofError(f"no function {line.function_id}")
            system = split_frame(self.string(function.system_name))
            name = self.string(function.name) or system.name or "[unknown]"
            parts = FrameParts(name, self.string(function.filename), max(0, line.line), system.kind)
            frames.append(escape_frame(frame_text(parts)))
        if not location.line:  # an unsymbolized address
            frames.append(f"0x{location.address:x}")
        self._frames[location_id] = frames
        return frames


def _value_index(reader: _Reader) -> int:
    types = [(reader.string(kind.type), reader.string(kind.unit)) for kind in reader.profile.sample_type]
    if not types:
        raise PprofError("the profile has no sample types")
    for index, (kind, _) in enumerate(types):
        if kind == "samples":
            return index
    for index, (_, unit) in enumerate(types):
        if unit == "count":
            return index
    return 0


def pprof_to_col(data: bytes, *, hostname: str = "", process: str = "", limit: int = MAX_PPROF_BYTES) -> str:
    """A `.col` text of a pprof: our header if the pprof is ours, else one made from its times.
    `limit` bounds the pprof inflated and the stacks' text (a sample repeats its frames' names)."""
    reader = _Reader(parse_pprof(data, limit))
    profile = reader.profile
    header: dict[str, Any] | None = None
    for index in profile.comment:
        comment = reader.string(index)
        if comment.startswith(HEADER_COMMENT):
            try:
                header = json.loads(comment[len(HEADER_COMMENT) :])
            except ValueError:
                header = None
            break
    default_process = process
    if not default_process and profile.mapping:
        default_process = os.path.basename(reader.string(profile.mapping[0].filename))
    default_process = escape_frame(default_process or "pprof")
    value = _value_index(reader)
    # an app index must point into our header's application_metadata (0: nothing known)
    table = header.get("application_metadata") if isinstance(header, dict) else None
    indexes_known = len(table) if isinstance(table, list) else 1
    lines: list[tuple[Hashable, int, str, tuple[str, ...], int]] = []
    written = 0
    for sample in profile.sample:
        if value >= len(sample.value) or sample.value[value] <= 0:
            continue
        labels = {reader.string(label.key): label for label in sample.label}
        text = {key: reader.string(label.str) for key, label in labels.items() if label.str}
        index = labels["app_metadata"].num if "app_metadata" in labels else NO_APP_METADATA_INDEX
        index = index if 0 <= index < indexes_known else NO_APP_METADATA_INDEX
        container = escape_frame(text.get("container", ""))
        head = [escape_frame(text["process"]) if "process" in text else default_process]
        if "app" in text:
            head.append(escape_frame(APP_PREFIX + text["app"]))
        frames = [frame for location in reversed(sample.location_id) for frame in reader.frames(location)]
        stack = tuple(head + frames)
        written += sum(map(len, stack)) + len(stack)
        if written > limit:
            raise PprofError(f"the profile's stacks make more than {limit} bytes of text")
        lines.append(((index, container), index, container, stack, sample.value[value]))
    if isinstance(header, dict):  # ours: its `.col` back line for line, PIDs as when it is read
        stacks, containers, indexes = pid_runs(lines)
    else:  # another tool's: one PID per app index and container, equal stacks summed
        stacks, containers, indexes = {}, {}, {}
        pid_of: dict[Hashable, int] = {}
        for key, index, container, stack, count in lines:
            pid = pid_of.setdefault(key, len(pid_of) + 1)
            if pid not in stacks:
                stacks[pid], containers[pid], indexes[pid] = Counter(), container, index
            stacks[pid][stack] = min(MAX_COUNT, stacks[pid][stack] + count)
    if not isinstance(header, dict):
        header = _header_of(profile, hostname, sorted(set(containers.values()) - {""}))
    return format_collapsed(header, stacks, containers.__getitem__, indexes)


def _header_of(profile: profile_pb2.Profile, hostname: str, containers: list[str]) -> dict[str, Any]:
    start = profile.time_nanos / 1e9 if profile.time_nanos > 0 else datetime.now(timezone.utc).timestamp()
    end = start + max(0, profile.duration_nanos) / 1e9
    return {
        "start_time": datetime.fromtimestamp(start, timezone.utc).isoformat(),
        "end_time": datetime.fromtimestamp(end, timezone.utc).isoformat(),
        "containers": containers,
        "container_names_enabled": bool(containers),
        "metadata": {"hostname": hostname or "unknown", "source": "pprof"},
        "metrics": {},
        "application_metadata": [None],
        "application_metadata_enabled": True,
    }
