from collections import Counter

from gprofiler.stacks.model import PidStacks, StackCounts
from gprofiler.stacks.scaling import average_depth, merge_smart, scale_counts


def test_scale_keeps_exact_total_and_proportions() -> None:
    counts: StackCounts = Counter({("a", "x"): 7, ("a", "y"): 2, ("a", "z"): 1})
    scaled = scale_counts(counts, 33)
    assert sum(scaled.values()) == 33
    assert scaled[("a", "x")] == 23  # 23.1
    assert scaled[("a", "y")] == 7  # 6.6 rounds up: largest remainder
    assert scaled[("a", "z")] == 3  # 3.3


def test_scale_down_never_invents_samples() -> None:
    counts: StackCounts = Counter({("a",): 1, ("b",): 1, ("c",): 1})
    scaled = scale_counts(counts, 1)
    assert sum(scaled.values()) == 1
    assert scale_counts(counts, 0) == Counter()


def test_scale_is_deterministic() -> None:
    counts: StackCounts = Counter({(str(i),): i + 1 for i in range(50)})
    assert scale_counts(counts, 777) == scale_counts(counts, 777)


def test_average_depth_is_sample_weighted() -> None:
    counts: StackCounts = Counter({("p", "a"): 3, ("p", "a", "b", "c", "d"): 1})
    assert average_depth(counts) == (2 * 3 + 5) / 4


def test_smart_merge_prefers_deeper_stacks_scaled_to_fp_totals() -> None:
    fp: PidStacks = {
        1: Counter({("app", "[unknown]"): 10}),  # broken unwinding: shallow
        2: Counter({("c", "main", "f", "g"): 6}),
    }
    dwarf: PidStacks = {
        1: Counter({("app", "main", "work", "leaf"): 4, ("app", "main", "idle"): 1}),
        2: Counter({("c", "main"): 3}),
        3: Counter({("late", "x"): 5}),
    }
    merged = merge_smart(fp, dwarf)
    assert merged[1] == Counter({("app", "main", "work", "leaf"): 8, ("app", "main", "idle"): 2})
    assert merged[2] == fp[2]
    # pid 3 was seen only by DWARF perf: scaled by fp_total / dwarf_total = 16 / 13
    assert sum(merged[3].values()) == round(5 * 16 / 13)
