"""Ruby processes profiled by rbspy (built from crates.io at setup) against Debian's ruby: the
methods with their files and lines, app id and version, a process in its own PID and mount
namespaces, and a process that exits mid-cycle."""

import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from gprofiler.profilers.ruby.profiler import RUBY_SUFFIX
from tests.integration.conftest import TARGETS, AgentFiles, parse_profile, running

RUBY = "/usr/bin/ruby"
CHAIN = ("gp_mid", "gp_ünïcode", "gp_leaf")


@pytest.fixture(scope="module")
def ruby() -> str:
    if not Path(RUBY).exists():
        pytest.fail("ruby is missing (./dev.sh setup-test installs Debian's ruby)")
    return RUBY


def _script(tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copy(TARGETS / "ruby" / "busy.rb", copy)
    return copy


def _chain_share(stacks: Counter[tuple[str, ...]], script: Path) -> float:
    """Share of samples with gp_mid -> gp_ünïcode -> gp_leaf as `_[rb]` frames of `script`, each
    with its file and a line (`method - file:line`, rbspy's text)."""
    total, hits = sum(stacks.values()), 0
    for stack, count in stacks.items():
        ours = [frame for frame in stack if frame.endswith(f"{RUBY_SUFFIX}") and f" - {script}:" in frame]
        names = tuple(frame.split(" - ", 1)[0] for frame in ours)
        lines_ok = all(frame.removesuffix(RUBY_SUFFIX).rsplit(":", 1)[1].isdigit() for frame in ours)
        if lines_ok and any(names[i : i + 3] == CHAIN for i in range(len(names) - 2)):
            hits += count
    return hits / total if total else 0.0


def test_ruby_methods_with_files_lines_app_id_and_version(
    ruby: str, agent: AgentFiles, tmp_path: Path
) -> None:
    script = _script(tmp_path, "gp_plain.rb")
    with running(ruby, script, "30"):
        time.sleep(0.5)
        result = agent.run("-d", "4")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    stacks = profile.of_app(str(script))
    assert sum(stacks.values()) > 0.5 * 4 * 11
    assert _chain_share(stacks, script) > 0.8
    assert profile.appid_of(str(script)) == {f"appid: ruby: {script} ({script})"}
    version = subprocess.run([ruby, "-e", "print RUBY_VERSION"], capture_output=True, text=True).stdout
    [comm] = {stack[1] for stack in profile.stacks if str(script) in stack[2]}
    assert profile.metadata[comm] == {"exe": str(Path(ruby).resolve()), "ruby_version": version}


def test_ruby_in_its_own_pid_and_mount_namespace(ruby: str, agent: AgentFiles, tmp_path: Path) -> None:
    script = _script(tmp_path, "gp_namespaced.rb")
    with running("unshare", "--pid", "--fork", "--mount-proc", "--mount", ruby, str(script), "30"):
        time.sleep(0.5)
        result = agent.run("-d", "4")
    assert result.returncode == 0, result.stderr
    stacks = parse_profile(agent.output / "last_profile.col").of_app(str(script))
    assert _chain_share(stacks, script) > 0.8


def test_a_ruby_process_that_exits_mid_cycle_costs_only_its_own_frames(
    ruby: str, agent: AgentFiles, tmp_path: Path
) -> None:
    staying, leaving = _script(tmp_path, "gp_stays.rb"), _script(tmp_path, "gp_leaves.rb")
    with running(ruby, staying, "30"), running(ruby, leaving, "2"):
        time.sleep(0.5)
        result = agent.run("-d", "5")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    assert _chain_share(profile.of_app(str(staying)), staying) > 0.8
    assert not any(frame.startswith("[Profiling error") for stack in profile.stacks for frame in stack)


def test_ruby_off(ruby: str, agent: AgentFiles, tmp_path: Path) -> None:
    script = _script(tmp_path, "gp_off.rb")
    with running(ruby, script, "30"):
        time.sleep(0.5)
        result = agent.run("-d", "2", "--no-ruby")
    assert result.returncode == 0, result.stderr
    stacks = parse_profile(agent.output / "last_profile.col").of_app(str(script))
    assert stacks and not any(frame.endswith(RUBY_SUFFIX) for stack in stacks for frame in stack)
