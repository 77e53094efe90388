"""The in-memory shape of a profile, shared by every profiler, merger and writer."""

from collections import Counter
from typing import TypeAlias

# One call stack, root first. The first element is the name of the thread that was sampled
# (perf's `comm`); the rest are frames, already escaped for the collapsed format.
Stack: TypeAlias = tuple[str, ...]

# Sample counts of the distinct stacks of one process.
StackCounts: TypeAlias = Counter[Stack]

# Everything sampled in one cycle, by process ID (in the agent's PID namespace).
PidStacks: TypeAlias = dict[int, StackCounts]


def total_samples(stacks: PidStacks) -> int:
    """Sum of all sample counts in a profile."""
    return sum(sum(counts.values()) for counts in stacks.values())
