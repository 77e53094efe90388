"""Rescale sample counts and pick between two views of the same process (perf smart mode)."""

from collections import Counter

from gprofiler.stacks.model import PidStacks, StackCounts


def scale_counts(counts: StackCounts, target_total: int) -> StackCounts:
    """Scale counts so they sum to exactly `target_total`, keeping their proportions.

    Uses the largest-remainder method (ties broken by stack order), so results are deterministic and
    no process gains or loses weight through rounding, unlike per-stack random rounding.
    """
    current_total = sum(counts.values())
    if current_total == 0 or target_total <= 0:
        return Counter()
    if current_total == target_total:
        return Counter(counts)
    scaled: StackCounts = Counter()
    remainders = []
    for stack, count in counts.items():
        whole, remainder = divmod(count * target_total, current_total)
        if whole:
            scaled[stack] = whole
        remainders.append((remainder, stack))
    missing = target_total - sum(scaled.values())
    remainders.sort(key=lambda item: item[0], reverse=True)
    for _, stack in remainders[:missing]:
        scaled[stack] += 1
    return scaled


def average_depth(counts: StackCounts) -> float:
    """Sample-weighted mean number of frames per stack."""
    total = sum(counts.values())
    if total == 0:
        return 0.0
    return sum(len(stack) * count for stack, count in counts.items()) / total


def merge_smart(fp: PidStacks, dwarf: PidStacks) -> PidStacks:
    """Per process, keep whichever of frame-pointer or DWARF unwinding produced deeper stacks.

    Frame-pointer perf is the reference for how many samples each process gets; DWARF stacks that win
    are scaled to that process's frame-pointer total. Processes that only DWARF perf saw are scaled by
    the overall frame-pointer/DWARF ratio, so neither recorder's extra samples skew the profile.
    """
    fp_total = sum(sum(c.values()) for c in fp.values())
    dwarf_total = sum(sum(c.values()) for c in dwarf.values())
    merged: PidStacks = {}
    for pid, fp_counts in fp.items():
        dwarf_counts = dwarf.get(pid)
        if dwarf_counts and average_depth(dwarf_counts) >= average_depth(fp_counts):
            merged[pid] = scale_counts(dwarf_counts, sum(fp_counts.values()))
        else:
            merged[pid] = fp_counts
    for pid, dwarf_counts in dwarf.items():
        if pid in fp or not dwarf_total:
            continue
        target = round(sum(dwarf_counts.values()) * fp_total / dwarf_total) if fp_total else 0
        scaled = scale_counts(dwarf_counts, target) if fp_total else Counter(dwarf_counts)
        if scaled:
            merged[pid] = scaled
    return merged
