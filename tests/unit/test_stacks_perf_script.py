"""The streaming perf script parser, on perf output captured on this machine (tests/fixtures)."""

import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gprofiler.stacks.perf_script import (
    FrameCache,
    collapse_perf_script,
    parse_frame_line,
    parse_header_line,
    read_chunks,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "perf_script"
SAMPLES_IN_FIXTURE = 68  # 42 + 26 samples, one blank line after each


def _by_stack(text: bytes) -> Counter[tuple[str, ...]]:
    merged: Counter[tuple[str, ...]] = Counter()
    for counts in collapse_perf_script(io.BytesIO(text)).stacks.values():
        merged.update(counts)
    return merged


@pytest.mark.parametrize("name", ["mixed_default.txt", "mixed_agent.txt"])
def test_every_sample_is_counted(name: str) -> None:
    text = (FIXTURES / name).read_bytes()
    assert text.count(b"\n\n") == SAMPLES_IN_FIXTURE
    result = collapse_perf_script(io.BytesIO(text))
    assert result.samples == SAMPLES_IN_FIXTURE
    assert result.dropped_samples == 0


def test_default_and_agent_field_sets_agree() -> None:
    default = _by_stack((FIXTURES / "mixed_default.txt").read_bytes())
    agent = _by_stack((FIXTURES / "mixed_agent.txt").read_bytes())
    assert default == agent


def test_stacks_are_root_first_with_kernel_frames_suffixed() -> None:
    stacks = _by_stack((FIXTURES / "mixed_agent.txt").read_bytes())
    read_stack = (
        "dd",
        "read",
        "entry_SYSCALL_64_after_hwframe_[k]",
        "do_syscall_64_[k]",
        "ksys_read_[k]",
        "vfs_read_[k]",
        "rw_verify_area_[k]",
    )
    assert stacks[read_stack] == 1
    idle = [stack for stack in stacks if stack[0] == "swapper"]
    assert idle and all(frame.endswith("_[k]") for stack in idle for frame in stack[1:])
    assert idle[0][1] == "common_startup_64_[k]"


def test_hostile_thread_names_are_escaped() -> None:
    comms = {stack[0] for stack in _by_stack((FIXTURES / "mixed_agent.txt").read_bytes())}
    assert {"semi\\x3bcolon", "sp ace x", "new\\nline", "\\xff\\xfe bad", "tricky_names"} <= comms
    for comm in comms:
        assert ";" not in comm and "\n" not in comm
        comm.encode("ascii")  # nothing but escaped ASCII survives


def test_pids_come_from_the_pid_field() -> None:
    result = collapse_perf_script(io.BytesIO((FIXTURES / "mixed_agent.txt").read_bytes()))
    comm_by_pid = {pid: {stack[0] for stack in counts} for pid, counts in result.stacks.items()}
    assert comm_by_pid[0] == {"swapper"}
    assert len([pid for pid, comms in comm_by_pid.items() if "tricky_names" in comms]) == 1


@pytest.mark.parametrize(
    ("line", "frame"),
    [
        (b"\tffffffff8225fe6b pv_native_safe_halt+0xb ([kernel.kallsyms])\n", "pv_native_safe_halt_[k]"),
        (b"\t            11a1 gp_spin+0x28 (/tmp/gp-fixture/tricky_names)\n", "gp_spin"),
        (b"\t            11a1 gp_spin (/tmp/gp-fixture/tricky_names)\n", "gp_spin"),
        (b"\t            597a [unknown] (/usr/bin/dd)\n", "[/usr/bin/dd]"),
        (b"\t    7f996be33c6c [unknown] ([unknown])\n", "[unknown]"),
        (
            b"\t            1197 [unknown] (/tmp/gp-fixture/busy_deleted (deleted))\n",
            "[/tmp/gp-fixture/busy_deleted (deleted)]",
        ),
        (b"\t    7ffd12345678 __vdso_clock_gettime+0x4d ([vdso])\n", "__vdso_clock_gettime"),
        (b"\t    7ffd12345678 [unknown] ([vdso])\n", "[vdso]"),
        (b"\t ffffffffc0a01234 [unknown] ([kernel.kallsyms])\n", "[kernel.kallsyms]_[k]"),
        (b"\t 55d0c0ffee operator+(int)+0x1f (/usr/bin/app)\n", "operator+(int)"),
        (b"\t 55d0c0ffee a;b\xff (/usr/bin/app)\n", "a\\x3bb\\xff"),
    ],
)
def test_frame_lines(line: bytes, frame: str) -> None:
    assert parse_frame_line(line) == frame


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        (b"swapper     0/0     ", (0, "swapper")),
        (b"kworker/u8:0-wr    12/12    ", (12, "kworker/u8:0-wr")),
        (b"sp ace x  1712/1712  ", (1712, "sp ace x")),
        (b"          sp ace x  5326   533.595622:   34482758 cpu-clock:ppp: ", (5326, "sp ace x")),
        (b"new\nline  1713/1713  ", (1713, "new\\nline")),
        (b"perf-exec 12/34 [001] 1.5: 1 cpu-clock:", (12, "perf-exec")),
        (b"no pid here", None),
    ],
)
def test_header_lines(header: bytes, parsed: tuple[int, str] | None) -> None:
    assert parse_header_line(header) == parsed


def test_output_cut_mid_line_drops_only_the_last_sample() -> None:
    text = (FIXTURES / "mixed_agent.txt").read_bytes()
    last_frame = text.rstrip(b"\n").rfind(b"\n\t") + 10  # inside the last sample's last frame line
    result = collapse_perf_script(io.BytesIO(text[:last_frame]))
    assert result.samples == SAMPLES_IN_FIXTURE - 1
    assert result.dropped_samples == 1


def test_any_truncation_point_is_survived() -> None:
    text = (FIXTURES / "mixed_default.txt").read_bytes()
    for cut in range(0, len(text), 97):
        result = collapse_perf_script(io.BytesIO(text[:cut]))
        assert result.samples + result.dropped_samples <= SAMPLES_IN_FIXTURE
        assert result.samples >= text[:cut].count(b"\n\n") - 1


def test_unreadable_header_skips_only_its_sample() -> None:
    good = b"app 10/10\n\t1000 main (/bin/app)\n\n"
    text = b"!!!\n\t1000 f (/bin/x)\n\n" + good
    result = collapse_perf_script(io.BytesIO(text))
    assert result.samples == 1
    assert result.dropped_samples == 1
    assert result.stacks == {10: Counter({("app", "main"): 1})}


@pytest.mark.parametrize("block_size", [1, 7, 64, 4096, 1 << 20])
def test_blocks_may_cut_the_text_anywhere(block_size: int) -> None:
    text = (FIXTURES / "mixed_default.txt").read_bytes()
    whole = collapse_perf_script([text])
    blocks = collapse_perf_script(read_chunks(io.BytesIO(text), block_size))
    assert blocks == whole
    assert blocks.samples == SAMPLES_IN_FIXTURE


def test_input_is_consumed_as_a_stream() -> None:
    text = (FIXTURES / "mixed_agent.txt").read_bytes()
    consumed: list[int] = []

    def blocks() -> Iterator[bytes]:
        for block in read_chunks(io.BytesIO(text), 512):
            consumed.append(len(block))
            yield block

    result = collapse_perf_script(blocks())
    assert result.samples == SAMPLES_IN_FIXTURE
    assert max(consumed) == 512 and sum(consumed) == len(text)


def test_frame_cache_is_reused_across_calls_and_forgets_lines_gone_for_a_cycle() -> None:
    text = (FIXTURES / "mixed_agent.txt").read_bytes()
    other = (FIXTURES / "mixed_default.txt").read_bytes()
    cache = FrameCache()
    first = collapse_perf_script([text], cache)
    assert cache.current and all(isinstance(name, str) for name in cache.current.values())
    cached_lines = len(cache)
    assert collapse_perf_script([text], cache) == first
    assert len(cache) == cached_lines  # nothing new to parse the second time
    cache.next_cycle()
    assert collapse_perf_script([text], cache) == first  # from the previous cycle's table
    assert len(cache.current) == cached_lines
    cache.next_cycle()
    collapse_perf_script([other], cache)
    cache.next_cycle()
    collapse_perf_script([other], cache)
    # Two cycles without the first text: only the other text's lines are left.
    other_lines = {line.strip() for line in other.split(b"\n")}
    kept = cache.current.keys() | cache.previous.keys()
    assert kept and {line.strip() for line in kept} <= other_lines
    assert {line.strip() for line in text.split(b"\n")} - other_lines  # the texts differ


def test_frame_cache_is_bounded() -> None:
    cache = FrameCache(limit=50)
    collapse_perf_script([(FIXTURES / "mixed_agent.txt").read_bytes()], cache)
    assert 0 < len(cache.current) <= 50
