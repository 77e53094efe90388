"""A pure-Python reader for Java Flight Recorder files: execution samples to stacks.

A JFR file is a sequence of self-contained chunks. Each chunk has a 68-byte header (magic `FLR\\0`,
version, size, offsets of its last constant-pool event and of its metadata event, timestamps,
feature flags), then events. Every event starts with its size and type id. The metadata event
(type 0) declares every type: its fields, their types, whether a field's value is an index into a
constant pool, and whether it is an array. Constant-pool events (type 1) are chained backwards from
the header's offset and hold, per type, `key -> value` entries (stack traces, methods, classes,
symbols, threads...). Everything else is decoded by walking its type's fields; events of types we do
not need are skipped by their size.

Integers are LEB128-style varints when the chunk's "compressed integers" flag is set (always, since
JDK 11); this reader supports only such chunks.
"""

import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gprofiler.profilers.java.jfr_format import (
    CHECKPOINT_EVENT,
    HEADER_SIZE,
    ByteReader,
    JfrFormatError,
    Metadata,
    TypeDef,
    cached_metadata,
    chunk_header,
    read_pools,
)
from gprofiler.stacks.escaping import escape_frame
from gprofiler.stacks.model import Stack

SAMPLE_EVENTS = ("jdk.ExecutionSample", "jdk.NativeMethodSample")
JAVA_SUFFIX = "_[j]"

__all__ = ["SAMPLE_EVENTS", "JfrFormatError", "JfrSamples", "read_samples"]


@dataclass
class _Chunk:
    metadata: Metadata
    pools: dict[int, dict[int, Any]]

    def type_named(self, name: str) -> TypeDef | None:
        type_id = self.metadata.names.get(name)
        return self.metadata.types.get(type_id) if type_id is not None else None


class _Names:
    """Frame names from a chunk's pools, memoised per method."""

    def __init__(self, chunk: _Chunk, line_numbers: bool) -> None:
        self.chunk = chunk
        self.line_numbers = line_numbers
        self._methods: dict[int, str] = {}

    def _pool(self, ref: Any) -> Any:
        if isinstance(ref, tuple):
            return self.chunk.pools.get(ref[0], {}).get(ref[1])
        return ref

    def _symbol(self, ref: Any) -> str:
        symbol = self._pool(ref)
        if isinstance(symbol, dict):
            return str(symbol.get("string") or "")
        return str(symbol or "")

    def method(self, ref: Any) -> str:
        key = ref[1] if isinstance(ref, tuple) else id(ref)
        name = self._methods.get(key)
        if name is None:
            method = self._pool(ref)
            if not isinstance(method, dict):
                name = "[unknown]"
            else:
                klass = self._pool(method.get("type"))
                class_name = self._symbol(klass.get("name")) if isinstance(klass, dict) else ""
                method_name = self._symbol(method.get("name"))
                qualified = f"{class_name.replace('/', '.')}.{method_name}" if class_name else method_name
                name = escape_frame(qualified or "[unknown]")
            self._methods[key] = name
        return name

    def stack(self, ref: Any) -> Stack:
        trace = self._pool(ref)
        if not isinstance(trace, dict):
            return ("[unknown stack]" + JAVA_SUFFIX,)
        frames = []
        for frame in reversed(trace.get("frames") or []):  # JFR lists the top frame first
            name = self.method(frame.get("method"))
            line = frame.get("lineNumber")
            if self.line_numbers and isinstance(line, int) and line > 0:
                name = f"{name}:{line}"
            frames.append(name + JAVA_SUFFIX)
        if trace.get("truncated"):
            frames.insert(0, "[truncated]" + JAVA_SUFFIX)
        return tuple(frames)


@dataclass
class JfrSamples:
    """Sample counts per event type (e.g. jdk.ExecutionSample), stacks root first."""

    stacks: dict[str, Counter[Stack]] = field(default_factory=dict)
    chunks: int = 0
    skipped_events: int = 0

    def total(self, event: str) -> int:
        return sum(self.stacks.get(event, Counter()).values())


def _sample_counts(
    data: memoryview,
    start: int,
    end: int,
    wanted: dict[int, str],
    stack_fields: dict[int, int],
    chunk: _Chunk,
) -> tuple[dict[str, Counter[Any]], int]:
    """Count stack-trace references per sample event type; everything else is skipped by size."""
    counts: dict[str, Counter[Any]] = {}
    readers = {
        type_id: [chunk.metadata.field_reader(f) for f in chunk.metadata.types[type_id].fields[: index + 1]]
        for type_id, index in stack_fields.items()
    }
    reader = ByteReader(data, start)
    skipped = 0
    while reader.pos < end:
        event_start = reader.pos
        size = reader.varint()
        if size <= 0:
            raise JfrFormatError(f"event of size {size} at byte {event_start}")
        type_id = reader.varint()
        event = wanted.get(type_id)
        if event is not None:
            *before, stack_trace = readers[type_id]
            for read in before:
                read(reader)
            counts.setdefault(event, Counter())[stack_trace(reader)] += 1
        elif type_id > CHECKPOINT_EVENT:
            skipped += 1
        reader.pos = event_start + size
    return counts, skipped


def read_samples(
    data: bytes, events: Iterable[str] = SAMPLE_EVENTS, line_numbers: bool = False
) -> JfrSamples:
    """Stacks of the given sample events in a whole JFR recording (every chunk).

    Any malformed input (the file comes from a JVM we do not trust) raises JfrFormatError.
    """
    try:
        return _read_samples(data, tuple(events), line_numbers)
    except (
        IndexError,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        struct.error,
        RecursionError,
    ) as error:
        raise JfrFormatError(f"malformed JFR data: {error!r}") from error


def _read_samples(data: bytes, events: tuple[str, ...], line_numbers: bool) -> JfrSamples:
    view = memoryview(data)
    result = JfrSamples()
    offset = 0
    while offset < len(view):
        size, cp_offset, meta_offset, _ = chunk_header(view, offset)
        metadata = cached_metadata(view, offset + meta_offset)
        chunk = _Chunk(metadata, read_pools(view, offset + cp_offset, metadata))
        wanted, stack_fields = {}, {}
        for event in events:
            type_def = chunk.type_named(event)
            names = [f.name for f in type_def.fields] if type_def else []
            if type_def is not None and "stackTrace" in names:
                wanted[type_def.id] = event
                stack_fields[type_def.id] = names.index("stackTrace")
        counts, skipped = _sample_counts(
            view, offset + HEADER_SIZE, offset + size, wanted, stack_fields, chunk
        )
        frame_names = _Names(chunk, line_numbers)
        for event, by_trace in counts.items():
            stacks = result.stacks.setdefault(event, Counter())
            for trace, count in by_trace.items():
                stacks[frame_names.stack(trace)] += count
        result.chunks += 1
        result.skipped_events += skipped
        offset += size
    return result
