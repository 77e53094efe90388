"""Hostile workloads: what a target does must never crash or stall the agent, nor cost another
process its profile. Each target here reproduces something that once did."""

import os
import shutil
import stat
import time
from pathlib import Path

from tests.integration.conftest import (
    PYTHON,
    TARGETS,
    AgentFiles,
    ParsedProfile,
    parse_profile,
    running,
    wait_for,
)

DEPTH = 700
EVIL_NAME = "evil ²\u2028x.py"  # a superscript digit and a Unicode line separator


def _python_frames(stacks: dict[tuple[str, ...], int]) -> list[tuple[str, ...]]:
    return [stack for stack in stacks if any(frame.endswith("_[p]") for frame in stack)]


def _deepest_recursion(profile: ParsedProfile, script: Path) -> int:
    return max(
        (
            sum(1 for frame in stack if frame.startswith("gp_recurse ("))
            for stack in profile.of_app(str(script))
        ),
        default=0,
    )


def _deep_target(tmp_path: Path) -> Path:
    script = tmp_path / "gp_deep.py"
    shutil.copy(TARGETS / "deep_recursion.py", script)
    return script


def _evil_target(tmp_path: Path) -> Path:
    script = tmp_path / EVIL_NAME
    shutil.copy(TARGETS / "busy.py", script)
    return script


def _fifo_package(tmp_path: Path) -> tuple[Path, Path]:
    """A site-packages whose package's RECORD is a FIFO (where the agent reads package versions),
    and a script running that package's busy loop."""
    site = tmp_path / "fifo-root" / "site-packages"
    package = site / "gp_fifo_pkg"
    package.mkdir(parents=True)
    shutil.copy(TARGETS / "busy.py", package / "__init__.py")
    info = site / "gp_fifo_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gp-fifo-pkg\nVersion: 1.0\n")
    os.mkfifo(info / "RECORD")  # nobody ever writes to it: an open() for reading waits forever
    runner = tmp_path / "gp_fifo_runner.py"
    runner.write_text(
        f"import sys\nsys.path.insert(0, {str(site)!r})\nimport gp_fifo_pkg\ngp_fifo_pkg.gp_outer(60)\n"
    )
    return runner, package / "__init__.py"


def test_700_deep_python_recursion(agent: AgentFiles, tmp_path: Path) -> None:
    """The flame graph writer once raised RecursionError on this (json.dumps of the nested tree)."""
    script = _deep_target(tmp_path)
    with running(PYTHON, script, "30", str(DEPTH)):
        result = agent.run("-d", "4")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    assert _deepest_recursion(profile, script) >= DEPTH
    page = (agent.output / "last_flamegraph.html").read_text()
    assert "gp_spin (" in page and "Traceback" not in result.stderr


def test_fifo_where_package_versions_are_read(agent: AgentFiles, tmp_path: Path) -> None:
    """Opening the FIFO once blocked the main loop for good; now the package just has no version."""
    runner, module = _fifo_package(tmp_path)
    command = ["unshare", "--pid", "--fork", "--mount-proc", "--mount", PYTHON, str(runner)]
    with running(*command):
        time.sleep(0.5)
        result = agent.run("-d", "3", timeout=60)
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    frames = {frame for stack in profile.of_app(str(runner)) for frame in stack}
    assert any(f"({module}:" in frame and frame.startswith("gp_leaf") for frame in frames), frames
    assert not any("gp-fifo-pkg==" in frame for frame in frames)


def test_hostile_script_name_costs_no_other_python_profile(agent: AgentFiles, tmp_path: Path) -> None:
    """py-spy's output was split on U+2028 and '²' passed isdigit(): int() then threw every Python
    profile of the cycle away."""
    evil = _evil_target(tmp_path)
    plain = tmp_path / "gp_plain_neighbour.py"
    shutil.copy(TARGETS / "busy.py", plain)
    with running(PYTHON, evil, "30"), running(PYTHON, plain, "30"):
        result = agent.run("-d", "4")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    assert _python_frames(profile.of_app(str(plain)))
    escaped = str(evil).replace("\u2028", "\\u2028")
    evil_stacks = [stack for stack in profile.stacks if any(escaped in frame for frame in stack)]
    assert evil_stacks, "the hostile script's own Python stacks are missing"
    assert any(frame.startswith("gp_leaf (") for stack in evil_stacks for frame in stack)
    assert "\u2028" not in (agent.output / "last_profile.col").read_text()


def test_hostile_workloads_together_in_continuous_mode(
    agent: AgentFiles, busy_fp: Path, tmp_path: Path
) -> None:
    deep, evil = _deep_target(tmp_path), _evil_target(tmp_path)
    runner, _ = _fifo_package(tmp_path)
    fifo = ["unshare", "--pid", "--fork", "--mount-proc", "--mount", PYTHON, str(runner)]
    with (
        running(PYTHON, deep, "60", str(DEPTH)),
        running(PYTHON, evil, "60"),
        running(*fifo),
        running(busy_fp, "60"),
    ):
        time.sleep(0.5)
        process = agent.start("-c", "-d", "3")
        try:
            wait_for(lambda: len(agent.profiles()) >= 4, 60, "four cycles")
            assert process.poll() is None, "the agent stopped"
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "cycle lost" not in stderr, stderr[-3000:]
    assert list(agent.tmpdir.iterdir()) == []  # nothing the agent or its tools made outlives it
    for path in agent.profiles()[1:4]:  # the first cycle may start before py-spy sees everyone
        profile = parse_profile(path)
        assert any("gp_leaf" in stack for stack in profile.of_process("gp_busy_fp")), path.name
        assert _deepest_recursion(profile, deep) >= DEPTH, path.name
        assert _python_frames(profile.of_app(str(runner))), path.name
        escaped = str(evil).replace("\u2028", "\\u2028")
        assert any(escaped in frame for stack in profile.stacks for frame in stack), path.name
        assert path.with_suffix(".html").exists()


def test_a_device_mapped_under_libpythons_name(agent: AgentFiles, tmp_path: Path) -> None:
    """The catalog reads the Python version from the mapped libpython: /dev/zero mapped under that
    name once made it read forever."""
    device = tmp_path / "libpython3.11.so.1.0"
    os.mknod(device, 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is
    script = tmp_path / "gp_maps_device.py"
    script.write_text(
        "import mmap, os, sys\n"
        f"fd = os.open({str(device)!r}, os.O_RDONLY)\n"
        "mapped = mmap.mmap(fd, 1 << 16, prot=mmap.PROT_READ)\n"
        "sys.path.insert(0, sys.argv[1])\nimport busy\nbusy.gp_outer(30)\n"
    )
    with running(PYTHON, script, str(TARGETS)):
        time.sleep(0.5)
        result = agent.run("-d", "3", timeout=60)
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    assert _python_frames(profile.of_app(str(script)))
