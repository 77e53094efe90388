"""Where CPython keeps what a stack walk reads, per version (x86-64 Linux, release builds).

Every number is an `offsetof` or `sizeof` on x86-64 from the version's own headers
(`Include/internal/pycore_runtime.h`, `pycore_interp.h`, `pycore_frame.h`, `cpython/pystate.h`,
`cpython/code.h`, `cpython/unicodeobject.h`), compiled with `Py_BUILD_CORE`; the test
`tests/integration/test_python_sampler.py` compiles the same `offsetof`s against the headers it finds
on the machine (python3.X-dev, pyenv) and compares them with this table, then walks a real
interpreter of each version. The fields are stable across a minor version's patch releases (CPython
does not change these structures' layout after a .0 release).

A version that is not here is profiled with py-spy.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class CPythonLayout:
    # _PyRuntimeState (the `_PyRuntime` symbol)
    runtime_interpreters_head: int
    runtime_gil_locked: int  # ceval.gil.locked (an int)
    runtime_gil_last_holder: int  # ceval.gil.last_holder (the PyThreadState holding or last holding it)
    # PyInterpreterState, PyThreadState, _PyCFrame
    interp_threads_head: int
    tstate_next: int
    tstate_cframe: int
    tstate_native_thread_id: int
    cframe_current_frame: int
    # _PyInterpreterFrame
    frame_code: int
    frame_previous: int
    frame_owner: int  # a char; 3.12 adds FRAME_OWNED_BY_CSTACK, a shim frame with no Python code
    # PyCodeObject
    code_firstlineno: int  # an int
    code_filename: int
    code_qualname: int
    # PyASCIIObject / PyCompactUnicodeObject
    unicode_length: int
    unicode_state: int  # bit field: interned (2 bits), kind (3), compact (1), ascii (1), ...
    unicode_ascii_data: int  # sizeof(PyASCIIObject): a compact ASCII string's characters follow it
    unicode_compact_data: int  # sizeof(PyCompactUnicodeObject): other compact strings'
    frame_owned_by_cstack: int | None = None


LAYOUTS: dict[str, CPythonLayout] = {
    "3.11": CPythonLayout(
        runtime_interpreters_head=40,
        runtime_gil_locked=376,
        runtime_gil_last_holder=368,
        interp_threads_head=16,
        tstate_next=8,
        tstate_cframe=56,
        tstate_native_thread_id=160,
        cframe_current_frame=8,
        frame_code=32,
        frame_previous=48,
        frame_owner=69,
        code_firstlineno=72,
        code_filename=112,
        code_qualname=128,
        unicode_length=16,
        unicode_state=32,
        unicode_ascii_data=48,
        unicode_compact_data=72,
    ),
}

OBJECT_TYPE = 8  # PyObject.ob_type, in every version


def layout_for(version: str | None) -> CPythonLayout | None:
    """The layout for a version such as "3.11.7", if it is in the table."""
    if not version:
        return None
    return LAYOUTS.get(".".join(version.split(".")[:2]))
