"""The agent profiles real programs with real perf and the stacks come out right."""

import subprocess
from collections import Counter
from pathlib import Path

from tests.integration.conftest import CHAIN, AgentFiles, chain_share, parse_profile, running


def test_c_program_functions_in_caller_order(agent: AgentFiles, busy_fp: Path) -> None:
    with running(busy_fp, "30"), running("dd", "if=/dev/zero", "of=/dev/null", "bs=1"):
        result = agent.run("-d", "4", "-f", "99")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    busy = profile.of_process("gp_busy_fp")
    # two busy programs and perf share two CPUs: expect well over a third of 4 s x 99 Hz
    assert sum(busy.values()) > 0.3 * 4 * 99
    assert chain_share(busy) > 0.8
    leaf_first = Counter({stack[-1]: count for stack, count in busy.items()})
    assert leaf_first.most_common(1)[0][0] == "gp_leaf"
    # kernel frames are marked and sit on top of the user frames that entered the kernel
    dd = profile.of_process("dd")
    syscalls = [stack for stack in dd if any(frame.endswith("_[k]") for frame in stack)]
    assert syscalls, dd
    for stack in syscalls:
        first_kernel = next(i for i, frame in enumerate(stack) if frame.endswith("_[k]"))
        assert all(frame.endswith("_[k]") for frame in stack[first_kernel:])
    header = profile.header
    assert header["metadata"]["hostname"]  # type: ignore[index]
    assert header["metrics"]["cpu_avg"] > 40  # type: ignore[index]  # two of two CPUs busy


def test_dwarf_mode_unwinds_code_without_frame_pointers(agent: AgentFiles, busy_nofp: Path) -> None:
    with running(busy_nofp, "30"):
        result = agent.run("-d", "3", "-f", "49", "--perf-mode", "dwarf")
    assert result.returncode == 0, result.stderr
    busy = parse_profile(agent.output / "last_profile.col").of_process("gp_busy_nofp")
    assert sum(busy.values()) > 0.5 * 3 * 49
    assert chain_share(busy) > 0.8


def test_smart_mode_keeps_the_deeper_stacks_per_process(
    agent: AgentFiles, busy_fp: Path, busy_nofp: Path
) -> None:
    with running(busy_fp, "30"), running(busy_nofp, "30"):
        result = agent.run("-d", "3", "-f", "49", "--perf-mode", "smart")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    with_fp, without_fp = profile.of_process("gp_busy_fp"), profile.of_process("gp_busy_nofp")
    assert chain_share(with_fp) > 0.8
    assert chain_share(without_fp) > 0.8
    # both programs spin on their own CPU: their weights stay comparable after scaling
    ratio = sum(with_fp.values()) / sum(without_fp.values())
    assert 0.6 < ratio < 1.6, ratio


def test_process_exiting_mid_cycle_is_still_in_the_profile(agent: AgentFiles, busy_fp: Path) -> None:
    process = agent.start("-d", "4", "-f", "99")
    try:
        subprocess.run([str(busy_fp), "1.5"], check=True, timeout=30)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    busy = parse_profile(agent.output / "last_profile.col").of_process("gp_busy_fp")
    assert sum(busy.values()) > 0.5 * 1.5 * 99
    assert chain_share(busy) > 0.8


def test_pids_limits_profiling_to_those_processes(agent: AgentFiles, busy_fp: Path, busy_nofp: Path) -> None:
    with running(busy_fp, "30") as wanted, running(busy_nofp, "30"):
        result = agent.run("-d", "2", "-f", "99", "--pids", str(wanted.pid))
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    assert {stack[1] for stack in profile.stacks} == {"gp_busy_fp"}


def test_hostile_process_names_cannot_break_the_format(agent: AgentFiles, tricky_names: Path) -> None:
    with running(tricky_names, "30"):
        result = agent.run("-d", "3", "-f", "49")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")  # strict: every line well formed
    comms = {stack[1] for stack in profile.stacks if stack[-1] == "gp_spin"}
    assert comms == {"gp_tricky", "semi\\x3bcolon", "sp ace x", "new\\nline", "\\xff\\xfe bad"}
    for comm in comms:
        assert (*CHAIN[:1], "gp_spin") == profile.of_process(comm).most_common(1)[0][0][-2:]
