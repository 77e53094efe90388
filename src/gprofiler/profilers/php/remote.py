"""A PHP process's stack, read from outside (phpspy's method, in Python): the agent's PHP sampler.

The engine keeps the running call frame in `executor_globals.current_execute_data`; each frame
(`zend_execute_data`) points at its function (`func`), the instruction it is at (`opline`) and its
caller (`prev_execute_data`). A sample reads that chain without stopping the process:

1. the pointer to the innermost frame, then each frame's (opline, func, prev), innermost first;
2. one `process_vm_readv` for every frame's function header and instruction line;
3. names not seen before: their strings (function, class, file), a few batched reads;
4. one `process_vm_readv` that reads the innermost frame's pointer and every frame again: if the
   process moved on while its frames were read (a call returned, a frame's memory was reused), the
   sample is `TornSampleError`, dropped and counted, never a half-read stack.

Everything is checked before it is trusted: addresses must be user-space, a function's type must be
internal/user/eval code, a string must carry the string type and a sane length, a class entry its
class type; a walk stops at a loop or after MAX_FRAMES.
"""

import struct
from dataclasses import dataclass, field

from gprofiler.profilers.php.layouts import (
    IS_STRING,
    ZEND_EVAL_CODE,
    ZEND_INTERNAL_CLASS,
    ZEND_INTERNAL_FUNCTION,
    ZEND_USER_CLASS,
    ZEND_USER_FUNCTION,
    PhpLayout,
)
from gprofiler.profilers.remote_memory import MAX_RANGES, ProcessMemory, RemoteReadError
from gprofiler.stacks.escaping import escape_frame

MAX_FRAMES = 1000  # deeper stacks keep their innermost frames under a marker (within one read's ranges)
MAX_STRING = 4096  # bytes of a name or path
TRUNCATED_FRAME = "[truncated]"
MAIN = "<main>"  # a file's top-level code, as phpspy names it

_MAX_WINDOW_PAGES = 16
_MAX_TEXTS = 65536
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


class TornSampleError(RemoteReadError):
    """The process moved on while its stack was read: a frame changed between two reads."""


@dataclass
class PhpRuntime:
    """One process's engine: found once per process, shared by its cycles."""

    layout: PhpLayout
    executor_globals: int  # address of the `executor_globals` symbol
    suffix: str = ""  # after each frame's text (the runtime's frame kind)
    # what a function is called, by (func, function_name, scope, filename, line_start): name, file
    names: dict[tuple[int, int, int, int, int], tuple[str, str | None]] = field(default_factory=dict)
    texts: dict[tuple[str, str, int], str] = field(default_factory=dict)  # a frame's text by name, file, line


Frame = tuple[int, int, int, int]  # execute_data, opline, func, prev_execute_data


def _pointers_at(offsets: tuple[int, ...]) -> struct.Struct:
    """A struct that unpacks 8-byte values at these increasing offsets."""
    layout, position = "<", 0
    for offset in offsets:
        layout += f"{offset - position}xQ"
        position = offset + 8
    return struct.Struct(layout)


class PhpStackReader:
    """The reads of one process for one cycle."""

    def __init__(self, memory: ProcessMemory, runtime: PhpRuntime) -> None:
        self.memory, self.runtime, self.layout = memory, runtime, runtime.layout
        layout = self.layout
        self._func_size = max(layout.op_filename, layout.op_line_start - 4) + 8
        if not layout.ed_opline < layout.ed_func < layout.ed_prev:
            raise ValueError("zend_execute_data's fields are in another order")
        self._frame = _pointers_at((layout.ed_opline, layout.ed_func, layout.ed_prev))
        self._current = runtime.executor_globals + layout.eg_current_execute_data

    def _pointer(self, address: int) -> int:
        value: int = _U64.unpack_from(self.memory.read(address, 8), 0)[0]
        return value

    def stack(self) -> tuple[str, ...]:
        """The frames, root first, as `Class::function file:line` followed by the suffix; empty when
        no PHP code runs (a php-fpm worker between requests). What can change is read first (frames,
        function headers, lines) and checked unchanged; names are worked out after."""
        innermost = self._pointer(self._current)
        frames, windows, positions = self._chain(innermost)
        if not frames:
            return ()
        truncated = len(frames) > MAX_FRAMES
        frames = frames[:MAX_FRAMES]
        functions = list(dict.fromkeys(frame[2] for frame in frames if frame[2]))  # a recursion reads one
        headers = dict(
            zip(functions, self._read_ranges([(func, self._func_size) for func in functions]), strict=True)
        )
        kinds = {func: self._kind(func, header) for func, header in headers.items()}
        oplines = list(
            dict.fromkeys(f[1] for f in frames if f[2] and f[1] and kinds[f[2]] != ZEND_INTERNAL_FUNCTION)
        )
        read = self._read_ranges([(opline + self.layout.op_lineno, 4) for opline in oplines])
        lines = {opline: _U32.unpack(data)[0] for opline, data in zip(oplines, read, strict=True)}
        self._check_unchanged(innermost, frames[:MAX_FRAMES], windows, positions)
        memo: dict[tuple[int, int], str] = {}  # a recursion is worked out once
        texts = []
        for _, opline, func, _ in frames:
            if func:
                text = memo.get((func, opline))
                if text is None:
                    text = self._text(opline, func, headers[func], kinds[func], lines)
                    memo[(func, opline)] = text
                texts.append(text)
        if truncated:
            texts.append(TRUNCATED_FRAME)
        texts.reverse()
        return tuple(texts)

    def _chain(self, execute_data: int) -> tuple[list[Frame], list[tuple[int, bytes]], list[tuple[int, int]]]:
        """The frames from the innermost out, the windows of memory they were read from, and where in
        which window each frame is. Frames live on the engine's VM stack, callers below callees, so
        each read takes a window of the pages below a frame (2 pages, then twice as many up to 64 KB):
        a 700-deep recursion is a few reads, not 700. (A generator's frame is elsewhere: a window of
        its own.)"""
        frames: list[Frame] = []
        windows: list[tuple[int, bytes]] = []
        positions: list[tuple[int, int]] = []
        seen: set[int] = set()
        window_start, window, pages = 0, b"", 2
        size, unpack = self._frame.size, self._frame.unpack_from
        while execute_data and len(frames) <= MAX_FRAMES:
            if execute_data in seen:
                raise RemoteReadError("the frame chain loops")
            seen.add(execute_data)
            offset = execute_data - window_start
            if not window or offset < 0 or offset + size > len(window):
                window_start, window = self.memory.read_below(execute_data + size, pages)
                windows.append((window_start, window))
                pages = min(pages * 2, _MAX_WINDOW_PAGES)
                offset = execute_data - window_start
                if offset < 0:
                    raise RemoteReadError(f"frame at {execute_data:#x} cannot be read")
            opline, func, prev = unpack(window, offset)
            frames.append((execute_data, opline, func, prev))
            positions.append((len(windows) - 1, offset))
            execute_data = prev
        return frames, windows, positions

    def _kind(self, func: int, header: bytes) -> int:
        kind = header[self.layout.fn_type]
        if kind not in (ZEND_INTERNAL_FUNCTION, ZEND_USER_FUNCTION, ZEND_EVAL_CODE):
            raise RemoteReadError(f"no function at {func:#x} (type {kind})")
        return kind

    def _text(self, opline: int, func: int, header: bytes, kind: int, lines: dict[int, int]) -> str:
        """A frame's text: `Class::function file:line`, or an internal function's bare name."""
        name, file = self._name(func, kind, header)
        if file is None:
            return name
        line = lines.get(opline)
        if line is None:
            line = _U32.unpack_from(header, self.layout.op_line_start)[0]
        cache = self.runtime.texts
        text = cache.get((name, file, line))
        if text is None:
            if len(cache) >= _MAX_TEXTS:
                cache.clear()
            text = cache[(name, file, line)] = escape_frame(f"{name} {file}:{line}") + self.runtime.suffix
        return text

    def _read_ranges(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        parts: list[bytes] = []
        for start in range(0, len(ranges), MAX_RANGES):
            parts += self.memory.read_many(ranges[start : start + MAX_RANGES])
        return parts

    def _name(self, func: int, kind: int, header: bytes) -> tuple[str, str | None]:
        """(name, file) of a function: `Class::function` or `<main>`, and its file (None for an
        internal function); cached per process by what identifies it."""
        layout = self.layout
        name_at = _U64.unpack_from(header, layout.fn_name)[0]
        scope = _U64.unpack_from(header, layout.fn_scope)[0]
        file_at = 0 if kind == ZEND_INTERNAL_FUNCTION else _U64.unpack_from(header, layout.op_filename)[0]
        line_start = (
            0 if kind == ZEND_INTERNAL_FUNCTION else _U32.unpack_from(header, layout.op_line_start)[0]
        )
        key = (func, name_at, scope, file_at, line_start)
        known = self.runtime.names.get(key)
        if known is not None:
            return known
        class_name_at = 0
        if scope:
            class_entry = self.memory.read(scope, layout.ce_name + 8)
            if class_entry[0] not in (ZEND_INTERNAL_CLASS, ZEND_USER_CLASS):
                raise RemoteReadError(f"no class entry at {scope:#x}")
            class_name_at = _U64.unpack_from(class_entry, layout.ce_name)[0]
        wanted = [address for address in (name_at, class_name_at, file_at) if address]
        strings = dict(zip(wanted, self._strings(wanted), strict=True))
        name = strings[name_at] if name_at else MAIN
        if class_name_at:
            name = f"{strings[class_name_at]}::{name}"
        file = strings[file_at] if file_at else None
        if kind == ZEND_INTERNAL_FUNCTION:
            name = escape_frame(name) + self.runtime.suffix  # no file or line: the text is final
        known = (name, file)
        if len(self.runtime.names) > 65536:
            self.runtime.names.clear()
        self.runtime.names[key] = known
        return known

    def _strings(self, addresses: list[int]) -> list[str]:
        """zend_strings: their headers in one read, their bytes in another."""
        layout = self.layout
        headers = self.memory.read_many([(address, layout.str_val) for address in addresses])
        ranges = []
        for address, header in zip(addresses, headers, strict=True):
            if _U32.unpack_from(header, layout.str_type_info)[0] & 0xF != IS_STRING:
                raise RemoteReadError(f"no string at {address:#x}")
            length = _U64.unpack_from(header, layout.str_len)[0]
            if length > 1 << 20:
                raise RemoteReadError(f"string at {address:#x} claims {length} bytes")
            ranges.append((address + layout.str_val, min(length, MAX_STRING)))
        present = [(address, size) for address, size in ranges if size]
        contents = iter(self.memory.read_many(present))
        return [next(contents).decode("utf-8", "replace") if size else "" for _, size in ranges]

    def _check_unchanged(
        self,
        innermost: int,
        frames: list[Frame],
        windows: list[tuple[int, bytes]],
        positions: list[tuple[int, int]],
    ) -> None:
        """The process is where it was when its stack was first read: the same innermost frame, each
        frame with the same function and caller, each caller at the same instruction (if a call
        returned in between, its caller moved on, and the frames read before no longer agree with
        it). One read: the pointer and the same windows again."""
        ranges = [(self._current, 8)] + [(start, len(window)) for start, window in windows]
        again = self._read_ranges(ranges)
        if _U64.unpack(again[0])[0] != innermost:
            raise TornSampleError("the process moved on while its stack was read")
        unpack = self._frame.unpack_from
        for index, (frame, (window, offset)) in enumerate(zip(frames, positions, strict=False)):
            opline, func, prev = unpack(again[1 + window], offset)
            if func != frame[2] or prev != frame[3] or (index and opline != frame[1]):
                raise TornSampleError("the process moved on while its stack was read")
