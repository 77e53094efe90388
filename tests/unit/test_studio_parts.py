"""The packed sample arrays of the embedded store: encoding, merging and summing."""

import numpy as np

from gprofiler_studio.storage import parts


def _entries(part: parts.Part) -> list[tuple[int, int, int]]:
    labels = part.entry_labels.tolist()
    return sorted(zip(labels, part.entries["stack"].tolist(), part.entries["count"].tolist(), strict=True))


def test_a_profile_part_groups_entries_by_label_and_round_trips() -> None:
    part = parts.from_entries([7, 3, 7, 3], [10, 11, 12, 10], [1, 2, 3, 4])
    assert part.labels.tolist() == [(3, 2, 6), (7, 2, 4)]
    assert part.entry_labels.tolist() == [3, 3, 7, 7]
    assert not part.wide  # a profile's counts are at most 10**9 each: 8 bytes per entry
    labels, data = part.encode()
    assert len(data) == 4 * 8
    assert _entries(parts.decode(labels, data, wide=False)) == [
        (3, 10, 4),
        (3, 11, 2),
        (7, 10, 1),
        (7, 12, 3),
    ]


def test_merging_sums_each_label_and_stack_once_without_overflow() -> None:
    big = parts.from_entries([1, 2], [5, 5], [10**9, 10**9])
    merged = parts.merge([big] * 10 + [parts.from_entries([1], [6], [1])])
    assert merged.wide
    assert _entries(merged) == [(1, 5, 10**10), (1, 6, 1), (2, 5, 10**10)]
    assert merged.labels.tolist() == [(1, 2, 10**10 + 1), (2, 1, 10**10)]
    assert _entries(parts.decode(*merged.encode(), wide=True)) == _entries(merged)
    assert _entries(parts.merge([merged, big])) == [(1, 5, 11 * 10**9), (1, 6, 1), (2, 5, 11 * 10**9)]
    assert _entries(parts.merge([])) == []


def test_stack_totals_from_blobs_and_filtered_parts() -> None:
    part = parts.from_entries([1, 2, 1], [0, 3, 70_000], [2, 5, 1])
    wide = parts.merge([part, part])
    totals = parts.StackTotals()
    for _ in range(1000):
        totals.add_data(part.encode()[1], wide=False)
    totals.add_data(wide.encode()[1], wide=True)
    assert totals.result() == {0: 2004, 3: 5010, 70_000: 1002}
    only_label_2 = parts.StackTotals()
    only_label_2.add(part, np.array([2], dtype=np.uint32))
    only_label_2.add(wide, np.array([2], dtype=np.uint32))
    assert only_label_2.result() == {3: 15}
    assert parts.StackTotals().result() == {}
