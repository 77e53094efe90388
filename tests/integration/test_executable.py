"""The single-file executable (scripts/build_executable.sh) on a machine where nothing is installed."""

import os
import signal
import subprocess
import time
from pathlib import Path

from gprofiler import __version__
from gprofiler.output.pprof import pprof_to_col
from tests.integration.conftest import (
    PYTHON,
    TARGETS,
    chain_share,
    parse_profile,
    run_chrooted,
    running,
    wait_for,
)


def _run_in_empty_root(
    executable: Path, tmp_path: Path, *args: str, host_proc: bool = False, tmp: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The executable alone in an empty tmpfs root (plus /proc, /sys, /dev, /tmp), writing to /out."""
    command = [f"/{executable.name}", "-o", "/out", "--log-file", "", *args]
    return run_chrooted(tmp_path, command, copy=executable, host_proc=host_proc, tmp=tmp)


def test_version_is_the_packages(executable: Path) -> None:
    result = subprocess.run([str(executable), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == __version__


def test_profiles_native_and_kernel_stacks_in_an_empty_root(
    executable: Path, busy_fp: Path, tmp_path: Path
) -> None:
    # dd spends its time in the kernel: reading /dev/urandom is the kernel's ChaCha20.
    with running(busy_fp, "30"), running("dd", "if=/dev/urandom", "of=/dev/null", "bs=64k"):
        result = _run_in_empty_root(
            executable, tmp_path, "-d", "3", "--perf-mode", "dwarf", "--output-format", "col,pprof"
        )
    assert result.returncode == 0, result.stderr
    profile = parse_profile(tmp_path / "out" / "last_profile.col")
    # the bundled protobuf wrote the pprof beside it: the same profile
    pprof = (tmp_path / "out" / "last_profile.pb.gz").read_bytes()
    assert pprof_to_col(pprof) == (tmp_path / "out" / "last_profile.col").read_text()
    busy = profile.of_process(busy_fp.name)
    assert sum(busy.values()) > 0.5 * 3 * 11
    assert chain_share(busy) > 0.8  # DWARF unwinding: the bundled perf with its bundled libdw
    dd = profile.of_process("dd")
    in_kernel = sum(count for stack, count in dd.items() if any(frame.endswith("_[k]") for frame in stack))
    assert in_kernel > 0.5 * sum(dd.values()) > 0, dd
    # The bundled perf names itself perf, not after the loader it is started through.
    assert not any(stack[1] == ".staticx.interp" for stack in profile.stacks)


def test_bundled_pyspy_profiles_python_from_an_empty_root_using_host_proc(
    executable: Path, tmp_path: Path
) -> None:
    with running(PYTHON, TARGETS / "busy.py", "30"):
        result = _run_in_empty_root(executable, tmp_path, "-d", "3", host_proc=True)
    assert result.returncode == 0, result.stderr
    assert "discovering processes in /host/proc" in result.stderr
    profile = parse_profile(tmp_path / "out" / "last_profile.col")
    python = profile.of_app(str(TARGETS / "busy.py"))
    names = {frame.split(" (", 1)[0] for stack in python for frame in stack if frame.endswith("_[p]")}
    assert {"gp_outer", "gp_middle", "gp_leaf"} <= names, names


def test_bundled_async_profiler_profiles_a_jvm_from_an_empty_root(
    executable: Path, java_classes: Path, tmp_path: Path
) -> None:
    with running("java", "-cp", java_classes, "Busy", "60"):
        time.sleep(3.5)  # the agent leaves JVMs younger than 3 s alone
        result = _run_in_empty_root(executable, tmp_path, "-d", "3")
    assert result.returncode == 0, result.stderr
    assert "Java profiling with async-profiler" in result.stderr
    busy = parse_profile(tmp_path / "out" / "last_profile.col").of_app("java: Busy")
    frames = {frame for stack in busy for frame in stack}
    assert {"Busy.main_[j]", "Busy.mid_[j]"} <= frames, frames


def test_bundled_rbspy_and_the_php_sampler_from_an_empty_root(executable: Path, tmp_path: Path) -> None:
    ruby, php = TARGETS / "ruby" / "busy.rb", TARGETS / "php" / "shapes.php"
    with running("ruby", ruby, "30"), running("php", php, "/dev/null", "30"):
        time.sleep(0.5)
        args = ("-d", "3", "--php-mode", "phpspy", "--php-proc-filter", "^php")
        result = _run_in_empty_root(executable, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    profile = parse_profile(tmp_path / "out" / "last_profile.col")
    ruby_frames = {frame.split(" - ")[0] for stack in profile.of_app(str(ruby)) for frame in stack}
    assert {"gp_mid", "gp_ünïcode", "gp_leaf"} <= ruby_frames, ruby_frames
    # shapes.php takes turns through six callers of gp_leaf: 33 samples see most of them
    php_frames = {frame.split(" ")[0] for stack in profile.of_app(str(php)) for frame in stack}
    callers = {"gp_mid", "GpWorker::gpMethod", "GpWorker::gpStatic", "GpWorker::{closure}", "gp_generator"}
    assert "gp_leaf" in php_frames and len(callers & php_frames) >= 3, php_frames


def test_extraction_directories_are_removed_on_sigterm(executable: Path, tmp_path: Path) -> None:
    scratch, out = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    agent = subprocess.Popen(
        [str(executable), "--continuous", "-d", "2", "-o", str(out), "--log-file", ""],
        env={"PATH": os.environ["PATH"], "TMPDIR": str(scratch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: any(out.glob("profile_*.col")), 60, "the first profile")
        assert {path.name.split("-")[0][:4] for path in scratch.iterdir()} >= {"_MEI", "stat"}
        for path in scratch.iterdir():
            assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert agent.returncode == 0, stderr
    assert list(scratch.iterdir()) == []


VDSO_LOOP = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: time.clock_gettime(1)\n"


def test_nothing_is_left_in_tmp_after_cycles_in_an_empty_root(executable: Path, tmp_path: Path) -> None:
    """perf script, chrooted, once left its copy of the vDSO (/tmp/perf-vdso.so-XXXXXX) behind at
    every cycle; the executable's own extraction directories go at exit."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(mode=0o1777)
    with running(PYTHON, "-c", VDSO_LOOP):  # samples in the vDSO: perf script copies it
        result = _run_in_empty_root(executable, tmp_path, "-d", "3", "--no-python", tmp=scratch)
    assert result.returncode == 0, result.stderr
    profile = parse_profile(tmp_path / "out" / "last_profile.col")
    assert any("[vdso]" in frame or "clock_gettime" in frame for stack in profile.stacks for frame in stack)
    assert sorted(path.name for path in scratch.iterdir()) == []
