"""Python, Node.js and Go processes profiled in their own language and merged with perf."""

import functools
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.conftest import (
    PYTHON,
    TARGETS,
    AgentFiles,
    parse_profile,
    running,
    wait_for,
)

if TYPE_CHECKING:
    from gprofiler.profilers.python.profiler import PythonCycle

PY_CHAIN = ("gp_outer", "gp_middle", "gp_leaf")


def _python_chain_share(stacks: dict[tuple[str, ...], int]) -> float:
    """Share of samples with gp_outer -> gp_middle -> gp_leaf as consecutive `_[p]` frames."""
    total = sum(stacks.values())
    hits = 0
    for stack, count in stacks.items():
        names = [frame.split(" (", 1)[0] for frame in stack if frame.endswith("_[p]")]
        if any(tuple(names[i : i + 3]) == PY_CHAIN for i in range(len(names) - 2)):
            hits += count
    return hits / total if total else 0.0


def _python_version() -> str:
    out = subprocess.run(
        [PYTHON, "-c", "import platform; print(platform.python_version())"], capture_output=True
    )
    return out.stdout.decode().strip()


def _copy_target(tmp_path: Path, source: str, name: str) -> Path:
    """A copy of a target script under a name no other process on the machine has."""
    copy = tmp_path / name
    shutil.copy(TARGETS / source, copy)
    return copy


def test_python_functions_in_order_with_app_id_and_metadata(agent: AgentFiles, tmp_path: Path) -> None:
    script = _copy_target(tmp_path, "busy.py", "gp_plain.py")
    with running(PYTHON, script, "30"):
        result = agent.run("-d", "4")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    python = profile.of_app(str(script))
    assert sum(python.values()) > 0.5 * 4 * 11
    assert _python_chain_share(python) > 0.8
    assert profile.appid_of(str(script)) == {f"appid: python: {script} ({script})"}
    metadata = {"exe": os.path.realpath(PYTHON), "python_version": _python_version()}
    assert profile.metadata["python3"] == metadata


def test_python_in_its_own_pid_and_mount_namespace(agent: AgentFiles, tmp_path: Path) -> None:
    script = _copy_target(tmp_path, "busy.py", "gp_namespaced.py")
    command = ["unshare", "--pid", "--fork", "--mount-proc", "--mount", PYTHON, str(script), "30"]
    with running(*command):
        time.sleep(0.5)
        result = agent.run("-d", "4")
    assert result.returncode == 0, result.stderr
    python = parse_profile(agent.output / "last_profile.col").of_app(str(script))
    assert _python_chain_share(python) > 0.8
    assert any(f"({script}:" in frame for stack in python for frame in stack)


def test_gunicorn_app_id(agent: AgentFiles) -> None:
    # The WSGI app is the test's own module, so its app id is unique to this test.
    gunicorn = [sys.executable, "-m", "gunicorn", "-w", "1", "-b", "127.0.0.1:0", "wsgi_busy:application"]
    with running(*gunicorn, cwd=TARGETS):
        time.sleep(2)  # the worker imports the app and starts spinning
        result = agent.run("-d", "4")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    appid = f"appid: gunicorn: wsgi_busy:application ({TARGETS / 'wsgi_busy.py'})"
    spinning = profile.with_frame(lambda frame: frame.startswith("gp_wsgi_spin ("))
    assert spinning, "the gunicorn worker's spinning thread is not in the profile"
    assert {stack[1] for stack in spinning} == {appid}


def test_node_started_with_perf_basic_prof(agent: AgentFiles, tmp_path: Path) -> None:
    script = _copy_target(tmp_path, "busy.js", "gp_perf_prof.js")
    with running("node", "--perf-basic-prof", script, "30"):
        time.sleep(1)
        result = agent.run("-d", "4", "--nodejs-mode", "perf")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    node = profile.of_app(str(script))
    js = {frame for stack in node for frame in stack if frame.endswith("_[js]")}
    assert f"gpLeaf {script}:5_[js]" in js, js
    assert profile.appid_of(str(script)) == {f"appid: node: {script} ({script})"}
    assert profile.metadata["node"]["node_version"].startswith("v")  # type: ignore[index]


def test_node_attach_maps_without_restart(agent: AgentFiles, tmp_path: Path) -> None:
    script = _copy_target(tmp_path, "busy.js", "gp_attach.js")
    with running("node", script, "60") as node:
        time.sleep(1)
        map_file = Path(f"/tmp/perf-{node.pid}.map")
        assert not map_file.exists()
        process = agent.start("-c", "-d", "3", "--nodejs-mode", "attach-maps")
        try:
            wait_for(lambda: len(agent.profiles()) >= 2, 40, "two cycles")
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        # JavaScript names within one cycle of attaching
        js = {
            frame
            for path in agent.profiles()[:2]
            for stack in parse_profile(path).of_app(str(script))
            for frame in stack
            if frame.endswith("_[js]")
        }
        assert any("gpLeaf" in frame or "gpOuter" in frame for frame in js), js
        # turned off and cleaned up; node carries on
        assert "perf maps off in node pid" in stderr
        assert not map_file.exists()
        assert not list(Path("/tmp").glob(".gprofiler-node-*"))
        time.sleep(1)
        assert node.poll() is None


def test_node_frames_are_one_form_in_every_mode_and_tier(agent: AgentFiles, tmp_path: Path) -> None:
    """One script run by three nodes: with --perf-basic-prof (V8's optimising tiers), with
    --perf-basic-prof and only the interpreter (its frames on the native stack), and attached to
    (the linux-perf addon's names): each function is one frame, `name file:line_[js]`, in all three."""
    folder = tmp_path / "gp_one_form"
    folder.mkdir()
    script = _copy_target(folder, "busy.js", "busy.js")
    ways = {
        "busy.js": ["node", "--perf-basic-prof", "busy.js", "40"],
        "./busy.js": [
            "node",
            "--perf-basic-prof",
            "--interpreted-frames-native-stack",
            "--no-opt",
            "--no-sparkplug",
            "./busy.js",
            "40",
        ],
        str(script): ["node", str(script), "40"],
    }
    with (
        running(*ways["busy.js"], cwd=folder),
        running(*ways["./busy.js"], cwd=folder),
        running(*ways[str(script)], cwd=folder),
    ):
        time.sleep(1)
        process = agent.start("-c", "-d", "3", "--nodejs-mode", "attach-maps")
        try:
            wait_for(lambda: len(agent.profiles()) >= 2, 40, "two cycles")
        finally:
            process.terminate()
            process.communicate(timeout=30)
    profile = parse_profile(agent.profiles()[1])  # the second cycle: the attached node writes its map
    one_form = re.compile(
        rf"^(gpOuter|gpMiddle|gpLeaf|\(anonymous\)) {re.escape(str(script))}:(17|13|5|1)_\[js\]$"
    )
    for argument in ways:
        stacks = profile.of_app(f"node: {argument} (")
        js = {
            frame for stack in stacks for frame in stack if frame.endswith("_[js]") and str(script) in frame
        }
        assert f"gpOuter {script}:17_[js]" in js, (argument, js)  # the loop: never inlined
        assert all(one_form.match(frame) for frame in js), (argument, js)


def test_go_program(agent: AgentFiles, go_program: Path) -> None:
    version = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.split()[2]
    with running(go_program, "30"):
        result = agent.run("-d", "4")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    go = profile.of_process("gp_go")
    frames = [stack for stack in go if "main.gpLeaf" in stack]
    assert sum(count for stack, count in go.items() if stack in frames) > 0.5 * sum(go.values())
    # caller before callee (gpMiddle itself may be missing: Go leaf functions keep no frame pointer)
    assert all(stack.index("main.gpOuter") < stack.index("main.gpLeaf") for stack in frames)
    assert profile.metadata["gp_go"] == {"exe": str(go_program), "go_version": version, "stripped": False}


def test_pyspy_missing_drops_only_the_python_profiler(
    agent: AgentFiles, busy_fp: Path, tmp_path: Path
) -> None:
    script = _copy_target(tmp_path, "busy.py", "gp_no_pyspy.py")
    with running(PYTHON, script, "30"), running(busy_fp, "30"):
        result = agent.run("-d", "3", "--python-mode", "pyspy", "--python-pyspy-path", "/nonexistent/py-spy")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "python profiler unavailable" in line]
    assert len(warnings) == 1 and "py-spy not found" in warnings[0]
    profile = parse_profile(agent.output / "last_profile.col")
    assert profile.of_process("gp_busy_fp")
    python = profile.of_app(str(script))
    assert python and not any(frame.endswith("_[p]") for stack in python for frame in stack)


def test_pyspy_missing_leaves_the_agents_sampler(agent: AgentFiles, tmp_path: Path) -> None:
    """--python-mode auto (the default) reads Debian's CPython itself; py-spy is only for the
    versions it does not read."""
    script = _copy_target(tmp_path, "busy.py", "gp_no_pyspy_auto.py")
    with running(PYTHON, script, "30"):
        result = agent.run("-d", "3", "--python-pyspy-path", "/nonexistent/py-spy")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "py-spy not found" in line]
    assert len(warnings) == 1 and "left to perf" in warnings[0]
    python = parse_profile(agent.output / "last_profile.col").of_app(str(script))
    assert _python_chain_share(python) > 0.8


def test_python_exiting_mid_cycle_keeps_its_samples(agent: AgentFiles, tmp_path: Path) -> None:
    script = _copy_target(tmp_path, "busy.py", "gp_short.py")
    with running(PYTHON, script, "2.5") as short:
        result = agent.run("-d", "5")  # py-spy starts on it at once; it exits half-way through
        assert short.poll() is not None
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    python = profile.of_app(str(script))
    assert _python_chain_share(python) > 0.8
    assert not any("Profiling error" in frame for stack in python for frame in stack)


@pytest.mark.parametrize("mode", ["auto", "pyspy"])
def test_python_that_pyspy_cannot_read_gets_an_error_frame(
    agent: AgentFiles, embedded_python: Path, mode: str
) -> None:
    with running(embedded_python, "30"):
        result = agent.run("-d", "3", "--python-mode", mode)
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    stacks = profile.of_process("gp_embedded_py")
    assert stacks
    errors = {stack[0] for stack in stacks}
    assert len(errors) == 1
    (error,) = errors
    tool = "python sampler" if mode == "auto" else "py-spy"
    assert error.startswith(f"[Profiling error: {tool}: ") and "interpreter" in error
    assert any(stack[-1] == "gp_spin" for stack in stacks)  # perf's stacks are kept under the error


def test_every_runtime_in_one_cycle_on_one_scale(
    agent: AgentFiles, busy_fp: Path, go_program: Path, tmp_path: Path
) -> None:
    script, js = (
        _copy_target(tmp_path, "busy.py", "gp_all.py"),
        _copy_target(tmp_path, "busy.js", "gp_all.js"),
    )
    with (
        running(PYTHON, script, "30") as python_target,
        running("node", "--perf-basic-prof", js, "30"),
        running(go_program, "30"),
        running(busy_fp, "30"),
    ):
        time.sleep(1)
        result = agent.run("-d", "6", "-v", "--nodejs-mode", "perf")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    python = profile.of_app(str(script))
    assert _python_chain_share(python) > 0.8
    assert any(frame.endswith("_[js]") for stack in profile.of_app(str(js)) for frame in stack)
    assert any("main.gpLeaf" in stack for stack in profile.of_process("gp_go"))
    assert any("gp_leaf" in stack for stack in profile.of_process("gp_busy_fp"))
    merges = re.findall(
        rf"pid {python_target.pid} \(python3\): perf (\d+) samples, runtime (\d+) samples, merged (\d+)",
        result.stderr,
    )
    assert merges, result.stderr[-2000:]
    assert len(merges) == 1
    ((perf, runtime, merged),) = merges
    assert int(perf) > 0 and int(runtime) > 0
    # probabilistic rounding moves each distinct stack by less than one sample
    assert abs(int(merged) - int(perf)) <= len(python), (perf, merged, len(python))
    assert sum(python.values()) == int(merged)


def test_pids_limits_the_runtime_profilers_too(agent: AgentFiles, tmp_path: Path) -> None:
    wanted, other = (
        _copy_target(tmp_path, "busy.py", "gp_wanted.py"),
        _copy_target(tmp_path, "busy.py", "gp_other.py"),
    )
    with running(PYTHON, wanted, "30") as target, running(PYTHON, other, "30"):
        result = agent.run("-d", "3", "--pids", str(target.pid))
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    assert _python_chain_share(profile.of_app(str(wanted))) > 0.8
    assert not profile.of_app(str(other))
    assert {stack[1] for stack in profile.stacks} == {"python3"}


def _pyspy_done(cycle: "PythonCycle") -> bool:
    return not any(run.child.is_running() for run in cycle.pyspy.runs)


def test_overlapping_python_cycles_each_read_their_own_pyspy_output(tmp_path: Path) -> None:
    """The next cycle's py-spy starts before this cycle's output is read, and can finish before
    (a process with a small share of a core is sampled for 10 s of a 60 s cycle): under load, with
    a slow cycle, the two runs once shared a file name, so one cycle read the other's samples and
    deleted them, and the other got "py-spy: no output"."""
    from gprofiler.discovery.catalog import ProcessCatalog
    from gprofiler.profilers.base import ProfilerContext
    from gprofiler.profilers.python.profiler import PySpyProfiler, PythonOptions

    workdir = tmp_path / "work"
    workdir.mkdir()
    context = ProfilerContext(
        frequency=11, duration=1, stop_event=threading.Event(), workdir=workdir, proc_root=Path("/proc")
    )
    profiler = PySpyProfiler(context, "pyspy", PythonOptions())
    profiler.start()
    with running(PYTHON, TARGETS / "busy.py", "60") as target:
        process = ProcessCatalog().lookup(target.pid)
        assert process is not None
        cycles = []
        for _ in range(2):
            cycle = profiler.begin_cycle([process], {target.pid: 1.0})
            wait_for(functools.partial(_pyspy_done, cycle), 30, "py-spy's end")
            cycles.append(cycle)
        results = [cycle.results(timeout=30)[target.pid] for cycle in cycles]
    for result in results:
        assert result.error is None and result.stacks
        assert any("gp_leaf" in ";".join(stack) for stack in result.stacks), result.stacks
    assert not list(workdir.iterdir())
