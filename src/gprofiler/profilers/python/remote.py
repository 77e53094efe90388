"""A CPython interpreter's stacks, read from outside: the agent's own Python sampler.

The interpreter is never stopped or injected into: each sample reads its thread states and frames
from /proc/PID/mem (what py-spy's `--nonblocking` does; remote_memory.py), so a read can see a frame
being pushed or popped. Everything read is checked before it is trusted: addresses must be
user-space, a code object must have CPython's code type, a string its unicode type and a sane
length, a walk stops at a loop or after MAX_FRAMES; a sample that fails a check is counted as an
error and dropped, never turned into a wrong stack.
"""

import struct
from dataclasses import dataclass, field

from gprofiler.profilers.python.layouts import OBJECT_TYPE, CPythonLayout
from gprofiler.profilers.remote_memory import NotRunningError, ProcessMemory, RemoteReadError
from gprofiler.stacks.escaping import escape_frame

MAX_FRAMES = 4096  # deeper stacks keep their innermost MAX_FRAMES frames under a marker
MAX_THREADS = 1024
MAX_NAME = 4096  # characters of a file or function name
TRUNCATED_FRAME = "[truncated]"


class NoInterpreterError(NotRunningError):
    """libpython is there, but no interpreter has been started (gdb, vim, perf's scripting)."""


@dataclass
class Interpreter:
    """What a process's interpreter is made of: found once per process, shared by its cycles."""

    layout: CPythonLayout
    runtime: int  # address of _PyRuntime
    code_type: int  # address of PyCode_Type
    unicode_type: int  # address of PyUnicode_Type
    suffix: str = ""  # after each frame's text (the runtime's frame kind)
    names: dict[tuple[int, int, int], str] = field(default_factory=dict)  # frame text by code object


_U64 = struct.Struct("<Q")


class StackReader:
    """One cycle's reads of one interpreter."""

    def __init__(self, memory: ProcessMemory, interpreter: Interpreter) -> None:
        self.memory, self.interpreter = memory, interpreter
        self.layout = layout = interpreter.layout
        self._gil_size = max(layout.gil_locked + 4, layout.gil_last_holder + 8)
        self._tstate_size = max(layout.tstate_next, layout.tstate_native_thread_id, layout.tstate_frame) + 8
        self._frame_size = max(layout.frame_code, layout.frame_previous, layout.frame_owner) + 8
        self._code_size = max(layout.code_filename, layout.code_qualname, layout.code_firstlineno) + 8

    @staticmethod
    def _pointer(data: bytes, offset: int) -> int:
        value: int = _U64.unpack_from(data, offset)[0]
        return value

    def _read_pointer(self, address: int) -> int:
        return self._pointer(self.memory.read(address, 8), 0)

    def _interp(self) -> int:
        interp = self._read_pointer(self.interpreter.runtime + self.layout.runtime_interpreters_head)
        if not interp:
            raise NoInterpreterError("no Python interpreter runs in this process")
        return interp

    def gil_holder(self) -> int | None:
        """The thread state holding the GIL, or None when nobody holds it."""
        layout = self.layout
        interp = self._interp()
        if layout.gil_in_runtime is not None:
            gil = self.interpreter.runtime + layout.gil_in_runtime
        else:
            assert layout.interp_gil_pointer is not None
            gil = self._read_pointer(interp + layout.interp_gil_pointer)
        data = self.memory.read(gil, self._gil_size)
        if not struct.unpack_from("<i", data, layout.gil_locked)[0]:
            return None
        return self._pointer(data, layout.gil_last_holder) or None

    def threads(self) -> list[tuple[int, int]]:
        """(thread state address, native thread id) of the main interpreter's threads."""
        found: list[tuple[int, int]] = []
        tstate = self._read_pointer(self._interp() + self.layout.interp_threads_head)
        seen: set[int] = set()
        while tstate and tstate not in seen and len(found) < MAX_THREADS:
            seen.add(tstate)
            data = self.memory.read(tstate, self._tstate_size)
            found.append((tstate, self._pointer(data, self.layout.tstate_native_thread_id)))
            tstate = self._pointer(data, self.layout.tstate_next)
        return found

    def stack(self, tstate: int) -> tuple[str, ...]:
        """The thread's Python frames, root first, as `qualname (file:first line)` (py-spy's -F),
        escaped for collapsed text and followed by the interpreter's suffix."""
        layout = self.layout
        frame = self._pointer(self.memory.read(tstate, self._tstate_size), layout.tstate_frame)
        if frame and layout.cframe_current_frame is not None:
            frame = self._read_pointer(frame + layout.cframe_current_frame)  # through the _PyCFrame
        frames: list[str] = []
        seen: set[int] = set()
        while frame:
            if frame in seen:
                raise RemoteReadError("the frame chain loops")
            if len(frames) == MAX_FRAMES:
                frames.append(TRUNCATED_FRAME)
                break
            seen.add(frame)
            data = self.memory.read(frame, self._frame_size)
            if data[layout.frame_owner] != layout.frame_owned_by_cstack:  # a shim frame has no code
                frames.append(self._code_name(self._pointer(data, layout.frame_code)))
            frame = self._pointer(data, layout.frame_previous)
        frames.reverse()
        return tuple(frames)

    def _code_name(self, code: int) -> str:
        layout = self.layout
        data = self.memory.read(code, self._code_size)
        if self._pointer(data, OBJECT_TYPE) != self.interpreter.code_type:
            raise RemoteReadError(f"no code object at {code:#x}")
        filename = self._pointer(data, layout.code_filename)
        qualname = self._pointer(data, layout.code_qualname)
        line: int = struct.unpack_from("<i", data, layout.code_firstlineno)[0]
        key = (filename, qualname, line)
        name = self.interpreter.names.get(key)
        if name is None:
            text = f"{self._string(qualname)} ({self._string(filename)}:{line})"
            name = escape_frame(text) + self.interpreter.suffix
            if len(self.interpreter.names) > 65536:
                self.interpreter.names.clear()
            self.interpreter.names[key] = name
        return name

    def _string(self, address: int) -> str:
        layout = self.layout
        header = self.memory.read(address, layout.unicode_compact_data)
        if self._pointer(header, OBJECT_TYPE) != self.interpreter.unicode_type:
            raise RemoteReadError(f"no str object at {address:#x}")
        length = self._pointer(header, layout.unicode_length)
        state: int = struct.unpack_from("<I", header, layout.unicode_state)[0]
        kind, compact, ascii_only = (state >> 2) & 7, (state >> 5) & 1, (state >> 6) & 1
        if not compact or kind not in (1, 2, 4):
            raise RemoteReadError(f"str at {address:#x} is not a compact string")
        shown = min(length, MAX_NAME)
        if ascii_only:
            raw = self.memory.read(address + layout.unicode_ascii_data, shown) if shown else b""
            return raw.decode("ascii", "replace")
        raw = self.memory.read(address + layout.unicode_compact_data, shown * kind) if shown else b""
        encoding = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind]
        return raw.decode(encoding, "replace")
