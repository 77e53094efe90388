"""The merge rule on py-spy and perf output captured together from one Python process."""

import io
import random
from collections import Counter
from pathlib import Path

from gprofiler.profilers.base import RuntimeResult
from gprofiler.profilers.python.profiler import parse_pyspy_raw
from gprofiler.stacks.merge import (
    error_frame,
    insert_after_comm,
    merge_runtime_results,
    scale_randomly,
)
from gprofiler.stacks.model import PidStacks, StackCounts
from gprofiler.stacks.perf_script import collapse_perf_script

MERGE = Path(__file__).resolve().parent.parent / "fixtures" / "merge"


def _captured() -> tuple[PidStacks, int, RuntimeResult]:
    perf = collapse_perf_script(io.BytesIO((MERGE / "perf_busy_python.txt").read_bytes())).stacks
    (pid,) = perf
    pyspy = parse_pyspy_raw((MERGE / "pyspy_busy.txt").read_text(), "python3")
    return perf, pid, RuntimeResult("python3", stacks=pyspy)


def test_runtime_stacks_replace_perf_and_take_its_total() -> None:
    perf, pid, result = _captured()
    perf_total = sum(perf[pid].values())
    merged = merge_runtime_results(perf, {pid: result}, random.Random(7))
    assert all(frame.endswith("_[p]") for stack in merged[pid] for frame in stack[1:])
    assert all(stack[0] == "python3" for stack in merged[pid])
    # probabilistic rounding: the total matches perf's within one sample per distinct stack
    assert abs(sum(merged[pid].values()) - perf_total) <= len(result.stacks or ())
    leaf = "gp_leaf (/tmp/gp-fixture/busy.py:11)_[p]"
    assert any(stack[-1] == leaf and stack[-2].startswith("gp_middle") for stack in merged[pid])


def test_rounding_is_reproducible_with_a_seed_and_unbiased() -> None:
    counts: StackCounts = Counter({("p", "a"): 1, ("p", "b"): 1, ("p", "c"): 1})
    assert scale_randomly(counts, 1.5, random.Random(1)) == scale_randomly(counts, 1.5, random.Random(1))
    totals = [sum(scale_randomly(counts, 1.5, random.Random(seed)).values()) for seed in range(2000)]
    assert 4.3 < sum(totals) / len(totals) < 4.7  # expectation 4.5
    assert scale_randomly(counts, 1, random.Random(1)) == counts


def test_no_perf_samples_keeps_runtime_samples_unscaled() -> None:
    _, pid, result = _captured()
    merged = merge_runtime_results({}, {pid: result}, random.Random(1))
    assert merged[pid] == result.stacks


def test_failure_keeps_perf_stacks_with_an_error_frame() -> None:
    perf, pid, _ = _captured()
    merged = merge_runtime_results(perf, {pid: RuntimeResult("python3", error="py-spy: boom;bad")}, None)
    frame = error_frame("py-spy: boom;bad")
    assert frame == "[Profiling error: py-spy: boom\\x3bbad]"
    assert sum(merged[pid].values()) == sum(perf[pid].values())
    assert all(stack[1] == frame for stack in merged[pid])
    alone = merge_runtime_results({}, {5: RuntimeResult("x", error="gone")}, None)
    assert alone[5] == Counter({("x", "[Profiling error: gone]"): 1})


def test_other_processes_are_untouched() -> None:
    perf, pid, result = _captured()
    perf[999] = Counter({("bash", "main"): 4})
    merged = merge_runtime_results(perf, {pid: result}, random.Random(3))
    assert merged[999] == Counter({("bash", "main"): 4})
    assert (
        merge_runtime_results(perf, {pid: RuntimeResult("python3", stacks=Counter())}, None)[pid] == perf[pid]
    )


def test_insert_after_comm() -> None:
    stacks: PidStacks = {1: Counter({("p", "a"): 2}), 2: Counter({("q",): 1})}
    result = insert_after_comm(stacks, {1: "appid: python: x.py (/x.py)"})
    assert result[1] == Counter({("p", "appid: python: x.py (/x.py)", "a"): 2})
    assert result[2] == stacks[2]
