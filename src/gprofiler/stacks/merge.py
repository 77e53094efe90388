"""gProfiler's merge rule: runtime profilers' stacks replace perf's, on perf's scale.

Pure functions over plain data; the agent feeds them one cycle's perf stacks and the per-process
results of the runtime profilers (py-spy, ...).
"""

import math
import random
from collections import Counter

from gprofiler.profilers.base import RuntimeResult
from gprofiler.stacks.escaping import escape_frame
from gprofiler.stacks.model import PidStacks, StackCounts


def error_frame(reason: str, label: str = "Profiling error") -> str:
    return f"[{label}: {escape_frame(reason)}]"


def scale_randomly(counts: StackCounts, ratio: float, rng: random.Random) -> StackCounts:
    """Multiply every count by `ratio`, rounding up with probability equal to the fraction.

    Expected totals are preserved without favouring any stack (gProfiler's rule); stacks that
    round to zero disappear. Pass a seeded `random.Random` for reproducible results.
    """
    if ratio == 1:
        return Counter(counts)
    scaled: StackCounts = Counter()
    for stack, count in counts.items():
        exact = count * ratio
        fraction, whole = math.modf(exact)
        value = int(whole) + (1 if rng.random() < fraction else 0)
        if value:
            scaled[stack] = value
    return scaled


def with_error_frame(counts: StackCounts, reason: str, label: str = "Profiling error") -> StackCounts:
    """perf's stacks for a process, with `[Profiling error: reason]` right after the process name."""
    return after_comm(counts, error_frame(reason, label))


def after_comm(counts: StackCounts, frame: str) -> StackCounts:
    """The same stacks with `frame` right after the process name."""
    with_frame: StackCounts = Counter()
    for stack, count in counts.items():
        new_stack = (stack[0], frame, *stack[1:])
        with_frame[new_stack] += count
    return with_frame


def merge_runtime_results(
    perf: PidStacks, runtime: dict[int, RuntimeResult], rng: random.Random | None = None
) -> PidStacks:
    """Replace each covered process's perf stacks with its runtime stacks, scaled to perf's total.

    - runtime stacks and perf samples: runtime stacks scaled so their total matches perf's count;
    - runtime stacks, no perf samples (perf missed it, or perf is disabled): runtime stacks as they are;
    - runtime error: perf's stacks with an error frame after the process name, or, if perf saw
      nothing either, a single `comm;[Profiling error: ...]` sample so the failure stays visible;
    - runtime profiler returned no stacks and no error (idle process): perf's stacks unchanged.
    """
    rng = rng or random.Random()
    merged: PidStacks = dict(perf)
    for pid, result in runtime.items():
        perf_counts = perf.get(pid)
        perf_total = sum(perf_counts.values()) if perf_counts else 0
        if result.error is not None:
            if perf_counts:
                merged[pid] = with_error_frame(perf_counts, result.error, result.error_label)
            else:
                merged[pid] = Counter({(result.comm, error_frame(result.error, result.error_label)): 1})
        elif result.stacks:
            runtime_total = sum(result.stacks.values())
            if perf_total:
                merged[pid] = scale_randomly(result.stacks, perf_total / runtime_total, rng)
            else:
                merged[pid] = Counter(result.stacks)
    return merged


def insert_after_comm(stacks: PidStacks, frames_by_pid: dict[int, str]) -> PidStacks:
    """Add one frame (e.g. `appid: ...`) right after the process name of every stack of a process."""
    result: PidStacks = {}
    for pid, counts in stacks.items():
        frame = frames_by_pid.get(pid)
        result[pid] = counts if frame is None else after_comm(counts, frame)
    return result
