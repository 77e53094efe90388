"""Where CPython keeps what a stack walk reads, per version (x86-64 Linux, release builds).

Every number is an `offsetof` or `sizeof` on x86-64 from the version's own headers
(`Include/internal/pycore_runtime.h`, `pycore_interp.h`, `pycore_frame.h`, `cpython/pystate.h`,
`cpython/code.h`, `cpython/unicodeobject.h`; 3.11.2 from Debian's python3.11-dev, 3.12.1 and 3.13.0
from their source releases), compiled with `Py_BUILD_CORE`. The test
`tests/integration/test_python_sampler.py` compiles the same `offsetof`s against the headers it finds
on the machine (python3.X-dev, pyenv) and compares them with this table, then compares the stacks
read from a real interpreter of each version with py-spy's. CPython keeps these structures' layout
within a minor version's patch releases. Free-threaded builds (3.13t) differ and are not read.

A version that is not here is profiled with py-spy.
"""

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class CPythonLayout:
    # _PyRuntimeState (the `_PyRuntime` symbol) and PyInterpreterState
    runtime_interpreters_head: int
    interp_threads_head: int
    # The GIL (struct _gil_runtime_state): in _PyRuntimeState up to 3.11 (`ceval.gil`), one per
    # interpreter from 3.12 (PyInterpreterState's `ceval.gil`, a pointer).
    gil_in_runtime: int | None
    interp_gil_pointer: int | None
    gil_locked: int  # an int
    gil_last_holder: int  # the PyThreadState holding it, or that last held it
    # PyThreadState: its frames are `cframe->current_frame` up to 3.12, `current_frame` from 3.13
    tstate_next: int
    tstate_native_thread_id: int
    tstate_frame: int
    cframe_current_frame: int | None  # None: `tstate_frame` is the frame itself
    # _PyInterpreterFrame
    frame_code: int  # f_code; f_executable from 3.13 (a code object for Python frames)
    frame_previous: int
    frame_owner: int  # a char
    frame_owned_by_cstack: int | None  # 3.12+: a shim frame of the C stack, with no Python code
    # PyCodeObject
    code_firstlineno: int  # an int
    code_filename: int
    code_qualname: int
    # PyASCIIObject / PyCompactUnicodeObject; the state bit field starts with interned (2 bits),
    # kind (3), compact (1), ascii (1) in every version here
    unicode_length: int
    unicode_state: int
    unicode_ascii_data: int  # sizeof(PyASCIIObject): a compact ASCII string's characters follow it
    unicode_compact_data: int  # sizeof(PyCompactUnicodeObject): other compact strings'


_V3_12 = CPythonLayout(
    runtime_interpreters_head=40,
    interp_threads_head=72,
    gil_in_runtime=None,
    interp_gil_pointer=384,
    gil_locked=16,
    gil_last_holder=8,
    tstate_next=8,
    tstate_native_thread_id=144,
    tstate_frame=56,
    cframe_current_frame=0,
    frame_code=0,
    frame_previous=8,
    frame_owner=70,
    frame_owned_by_cstack=3,
    code_firstlineno=68,
    code_filename=112,
    code_qualname=128,
    unicode_length=16,
    unicode_state=32,
    unicode_ascii_data=40,
    unicode_compact_data=56,
)

LAYOUTS: dict[str, CPythonLayout] = {
    "3.11": CPythonLayout(
        runtime_interpreters_head=40,
        interp_threads_head=16,
        gil_in_runtime=360,
        interp_gil_pointer=None,
        gil_locked=16,
        gil_last_holder=8,
        tstate_next=8,
        tstate_native_thread_id=160,
        tstate_frame=56,
        cframe_current_frame=8,
        frame_code=32,
        frame_previous=48,
        frame_owner=69,
        frame_owned_by_cstack=None,
        code_firstlineno=72,
        code_filename=112,
        code_qualname=128,
        unicode_length=16,
        unicode_state=32,
        unicode_ascii_data=48,
        unicode_compact_data=72,
    ),
    "3.12": _V3_12,
    # 3.13: the interpreter state grew (ceval moved to its start), and a thread state points at its
    # frame directly (no _PyCFrame); the frame's code is `f_executable`, at the same place
    "3.13": dataclasses.replace(
        _V3_12,
        runtime_interpreters_head=632,
        interp_threads_head=7344,
        interp_gil_pointer=16,
        tstate_native_thread_id=160,
        tstate_frame=72,
        cframe_current_frame=None,
    ),
}

OBJECT_TYPE = 8  # PyObject.ob_type, in every version


def layout_for(version: str | None) -> CPythonLayout | None:
    """The layout for a version such as "3.11.7", if it is in the table."""
    if not version:
        return None
    return LAYOUTS.get(".".join(version.split(".")[:2]))
