"""The agent's own Python sampler against real interpreters: its table of CPython's structures
against CPython's own headers, its stacks against py-spy's on the same process, and awkward shapes
(700-deep recursion, non-ASCII and `;` names, sleeping threads, an interpreter that never started)."""

import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from gprofiler.discovery.catalog import ProcessCatalog
from gprofiler.profilers.base import RuntimeResult
from gprofiler.profilers.python.layouts import LAYOUTS, CPythonLayout
from gprofiler.profilers.python.profiler import PYTHON_SUFFIX, find_pyspy, parse_pyspy_raw, pyspy_argv
from gprofiler.profilers.python.sampler import InterpreterFinder, python_target
from gprofiler.profilers.sampling import SamplerCycle
from gprofiler.stacks.escaping import escape_frame
from gprofiler.stacks.model import StackCounts
from tests.integration.conftest import PYTHON, TARGETS, running

# Each field of CPythonLayout as the C expression that defines it, per version.
_COMMON = {
    "runtime_interpreters_head": "offsetof(_PyRuntimeState, interpreters.head)",
    "interp_threads_head": "offsetof(PyInterpreterState, threads.head)",
    "gil_locked": "offsetof(struct _gil_runtime_state, locked)",
    "gil_last_holder": "offsetof(struct _gil_runtime_state, last_holder)",
    "tstate_next": "offsetof(PyThreadState, next)",
    "tstate_native_thread_id": "offsetof(PyThreadState, native_thread_id)",
    "frame_previous": "offsetof(_PyInterpreterFrame, previous)",
    "frame_owner": "offsetof(_PyInterpreterFrame, owner)",
    "code_firstlineno": "offsetof(PyCodeObject, co_firstlineno)",
    "code_filename": "offsetof(PyCodeObject, co_filename)",
    "code_qualname": "offsetof(PyCodeObject, co_qualname)",
    "unicode_length": "offsetof(PyASCIIObject, length)",
    "unicode_state": "offsetof(PyASCIIObject, state)",
    "unicode_ascii_data": "sizeof(PyASCIIObject)",
    "unicode_compact_data": "sizeof(PyCompactUnicodeObject)",
}
_CFRAME = {
    "tstate_frame": "offsetof(PyThreadState, cframe)",
    "cframe_current_frame": "offsetof(_PyCFrame, current_frame)",
    "frame_code": "offsetof(_PyInterpreterFrame, f_code)",
}
_C_EXPRESSIONS: dict[str, dict[str, str | None]] = {
    "3.11": {
        **_COMMON,
        **_CFRAME,
        "gil_in_runtime": "offsetof(_PyRuntimeState, ceval.gil)",
        "interp_gil_pointer": None,
        "frame_owned_by_cstack": None,
    },
    "3.12": {
        **_COMMON,
        **_CFRAME,
        "gil_in_runtime": None,
        "interp_gil_pointer": "offsetof(PyInterpreterState, ceval.gil)",
        "frame_owned_by_cstack": "FRAME_OWNED_BY_CSTACK",
    },
    "3.13": {
        **_COMMON,
        "tstate_frame": "offsetof(PyThreadState, current_frame)",
        "cframe_current_frame": None,
        "frame_code": "offsetof(_PyInterpreterFrame, f_executable)",
        "gil_in_runtime": None,
        "interp_gil_pointer": "offsetof(PyInterpreterState, ceval.gil)",
        "frame_owned_by_cstack": "FRAME_OWNED_BY_CSTACK",
    },
}
_HEADERS = ("Python.h", "internal/pycore_runtime.h", "internal/pycore_interp.h", "internal/pycore_frame.h")


def _interpreter(version: str) -> str | None:
    """A python<version> on this machine: Debian's, or one pyenv installed (not on PATH unless chosen)."""
    debian = Path(f"/usr/bin/python{version}")
    if debian.exists():
        return str(debian)
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    root = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30).stdout.strip()
    found = sorted(Path(root).glob(f"versions/{version}.*/bin/python{version}")) if root else []
    return str(found[-1]) if found else None


def _include_dir(version: str) -> Path | None:
    """The headers of that interpreter (Debian's python3.X-dev, or pyenv's)."""
    python = _interpreter(version)
    if python is None:
        return None
    out = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    include = Path(out.stdout.strip())
    return include if out.returncode == 0 and (include / "internal" / "pycore_frame.h").exists() else None


@pytest.mark.parametrize("version", sorted(LAYOUTS))
def test_layout_table_is_what_cpythons_headers_say(version: str, tmp_path: Path) -> None:
    include = _include_dir(version)
    if include is None:
        if version == "3.11":  # Debian's: the README's setup installs its headers
            pytest.fail("no headers for Python 3.11 (python3.11-dev)")
        pytest.skip(f"no Python {version} headers on this machine")
    expressions = _C_EXPRESSIONS[version]
    assert set(expressions) == set(CPythonLayout.__dataclass_fields__)
    defined = {name: expr for name, expr in expressions.items() if expr is not None}
    source = ["#define Py_BUILD_CORE 1", *(f'#include "{header}"' for header in _HEADERS)]
    source += ["#include <stddef.h>", "#include <stdio.h>", "int main(void) {"]
    source += [f'    printf("{name} %zu\\n", (size_t)({expr}));' for name, expr in defined.items()]
    source += ["    return 0;", "}"]
    (tmp_path / "offsets.c").write_text("\n".join(source) + "\n")
    subprocess.run(
        ["gcc", f"-I{include}", "-o", str(tmp_path / "offsets"), str(tmp_path / "offsets.c")], check=True
    )
    printed = subprocess.run([str(tmp_path / "offsets")], capture_output=True, text=True, check=True).stdout
    from_headers = {name: int(value) for name, value in (line.split() for line in printed.splitlines())}
    layout = LAYOUTS[version]
    assert {name: getattr(layout, name) for name in defined} == from_headers
    assert all(getattr(layout, name) is None for name in expressions if name not in defined)


def _sample(pid: int, seconds: int, rate: int = 50, gil_only: bool = False) -> dict[int, RuntimeResult]:
    process = ProcessCatalog().lookup(pid)
    assert process is not None and process.metadata is not None, "the catalog does not see the target"
    interpreter = InterpreterFinder(Path("/proc"), PYTHON_SUFFIX).find(process)
    assert interpreter is not None, f"no sampler for Python {process.metadata.get('python_version')}"
    target = python_target(process, interpreter, Path("/proc"), (rate, seconds), gil_only)
    cycle = SamplerCycle([target], Path("/proc"), False, "python-sampler")
    return cycle.results(timeout=seconds + 30)


def _stacks_of(pid: int, seconds: int, rate: int = 50, gil_only: bool = False) -> StackCounts:
    result = _sample(pid, seconds, rate, gil_only)[pid]
    assert result.error is None and result.stacks, result
    return result.stacks


def _pyspy_stacks(pid: int, seconds: int, output: Path) -> StackCounts:
    argv = pyspy_argv(find_pyspy(None), pid, 50, seconds, output, idle=False)
    subprocess.run(argv, capture_output=True, check=True, timeout=seconds + 30)
    return parse_pyspy_raw(output.read_text(), "x")


def _sampled_alongside_pyspy(pid: int, seconds: int, tmp_path: Path) -> tuple[StackCounts, StackCounts]:
    """The sampler's and py-spy's stacks of the same process over the same seconds."""
    pyspy: list[StackCounts] = []
    thread = threading.Thread(
        target=lambda: pyspy.append(_pyspy_stacks(pid, seconds, tmp_path / "pyspy.txt"))
    )
    thread.start()
    ours = _stacks_of(pid, seconds)
    thread.join()
    return ours, pyspy[0]


def _top(stacks: StackCounts) -> tuple[str, ...]:
    return Counter({stack[1:]: count for stack, count in stacks.items()}).most_common(1)[0][0]


@pytest.mark.parametrize("version", sorted(LAYOUTS))
def test_stacks_are_pyspys_frame_for_frame(version: str, tmp_path: Path) -> None:
    python = PYTHON if version == "3.11" else _interpreter(version)  # Debian's, or pyenv's
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    with running(python, TARGETS / "busy.py", "30") as target:
        ours, pyspy = _sampled_alongside_pyspy(target.pid, 3, tmp_path)
    assert _top(ours) == _top(pyspy)
    script = TARGETS / "busy.py"
    assert _top(ours)[-3:] == tuple(
        f"{name} ({script}:{line}){PYTHON_SUFFIX}"
        for name, line in (("gp_outer", 22), ("gp_middle", 18), ("gp_leaf", 11))
    )
    # py-spy's rate and ours are the same; both see one running thread (the other sleeps)
    assert 0.7 < sum(ours.values()) / sum(pyspy.values()) < 1.3
    assert all(stack[0] == Path(python).name[:15] for stack in ours)


def test_700_deep_recursion_is_read_whole(tmp_path: Path) -> None:
    with running(PYTHON, TARGETS / "deep_recursion.py", "30", "700") as target:
        ours, pyspy = _sampled_alongside_pyspy(target.pid, 2, tmp_path)
    top = _top(ours)
    assert sum(1 for frame in top if frame.startswith("gp_recurse ")) == 701
    assert top == _top(pyspy)


def _line_of(script: Path, text: str) -> int:
    return next(number for number, line in enumerate(script.read_text().splitlines(), 1) if text in line)


def test_qualified_non_ascii_and_hostile_names_and_no_sleeping_threads() -> None:
    script = TARGETS / "sampler_shapes.py"
    with running(PYTHON, script, "30") as target:
        stacks = _stacks_of(target.pid, 3)
    frames = {frame for stack in stacks for frame in stack[1:]}
    expected = {
        f"GpWorker.gp_method ({script}:{_line_of(script, 'def gp_method')})",
        f"GpWorker.gp_method.<locals>.<genexpr> ({script}:{_line_of(script, 'return sum(')})",
        f"gp_ünïcode_名前 ({script}:{_line_of(script, 'def gp_ünïcode_名前')})",
        escape_frame("gp_odd (gp;odd\u2028file.py:1)"),
    }
    assert {frame + PYTHON_SUFFIX for frame in expected} <= frames
    assert ";" not in "".join(frames) and "\u2028" not in "".join(frames)
    # The sleeping thread is sampled only in the instants it runs, waking once a second
    sleeping = sum(count for stack, count in stacks.items() if any("gp_sleeper" in frame for frame in stack))
    assert sleeping < 0.05 * sum(stacks.values())


def test_the_thread_holding_the_gil_only_as_for_a_process_in_a_container() -> None:
    with running(PYTHON, TARGETS / "sampler_shapes.py", "30") as target:
        stacks = _stacks_of(target.pid, 2, gil_only=True)
    assert all(any("gp_method" in frame for frame in stack) or "<module>" in stack[1] for stack in stacks)
    assert not any("gp_sleeper" in frame for stack in stacks for frame in stack)


def test_an_interpreter_that_never_started_is_an_error_not_a_stack(embedded_python: Path) -> None:
    with running(embedded_python, "30") as target:
        results = _sample(target.pid, 1)
    result = results[target.pid]
    assert result.stacks is None
    assert result.error == "python sampler: no Python interpreter runs in this process"


def test_a_process_that_exits_while_sampled_keeps_its_samples() -> None:
    with running(PYTHON, TARGETS / "busy.py", "1.5") as target:
        results = _sample(target.pid, 4, rate=20)
    assert target.poll() is not None
    result = results.get(target.pid)
    assert result is not None and result.error is None and result.stacks
    assert 10 <= sum(result.stacks.values()) <= 35


def test_versions_without_a_layout_are_left_to_pyspy() -> None:
    missing = [v for v in ("3.9", "3.10", "3.12", "3.13") if v not in LAYOUTS and _interpreter(v) is not None]
    if not missing:
        pytest.skip("no interpreter of a version the sampler does not read on this machine")
    version = missing[0]
    python = _interpreter(version)
    assert python is not None
    with running(python, "-c", "while True: sum(range(1000))") as target:
        deadline = time.monotonic() + 10
        process = ProcessCatalog().lookup(target.pid)
        while (process is None or process.runtime is None) and time.monotonic() < deadline:
            time.sleep(0.2)  # pyenv's shim has not exec'd the interpreter yet
            process = ProcessCatalog().lookup(target.pid)
        assert process is not None and (process.metadata or {}).get("python_version", "").startswith(version)
        assert InterpreterFinder(Path("/proc"), PYTHON_SUFFIX).find(process) is None
