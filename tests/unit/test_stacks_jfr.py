"""The pure-Python JFR reader on recordings made by the JDK installed here, checked against `jfr print`."""

import contextlib
import json
import shutil
import struct
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from gprofiler.profilers.java.jfr_reader import JfrFormatError, read_samples

JFR = Path(__file__).resolve().parent.parent / "fixtures" / "jfr"


def _jfr_tool() -> str:
    tool = shutil.which("jfr")
    if tool is None:
        pytest.fail("the JDK's jfr tool is missing (./dev.sh setup-test installs openjdk-17-jdk-headless)")
    return tool


def reference_stacks(path: Path, event: str, line_numbers: bool = False) -> Counter[tuple[str, ...]]:
    """What `jfr print --json` says, turned into the reader's frame names."""
    printed = subprocess.run(
        [_jfr_tool(), "print", "--json", "--stack-depth", "1000", "--events", event, str(path)],
        capture_output=True,
        check=True,
    ).stdout
    stacks: Counter[tuple[str, ...]] = Counter()
    for sample in json.loads(printed)["recording"]["events"]:
        trace = sample["values"]["stackTrace"]
        frames = []
        for frame in reversed(trace["frames"]):
            name = frame["method"]["type"]["name"].replace("/", ".") + "." + frame["method"]["name"]
            if line_numbers and frame["lineNumber"] > 0:
                name += f":{frame['lineNumber']}"
            frames.append(name + "_[j]")
        if trace["truncated"]:
            frames.insert(0, "[truncated]_[j]")
        stacks[tuple(frames)] += 1
    return stacks


@pytest.mark.parametrize("name", ["busy.jfr", "deep.jfr"])
@pytest.mark.parametrize("event", ["jdk.ExecutionSample", "jdk.NativeMethodSample"])
def test_reader_agrees_with_jfr_print(name: str, event: str) -> None:
    samples = read_samples((JFR / name).read_bytes())
    assert samples.stacks.get(event, Counter()) == reference_stacks(JFR / name, event)


def test_line_numbers() -> None:
    samples = read_samples((JFR / "busy.jfr").read_bytes(), line_numbers=True)
    reference = reference_stacks(JFR / "busy.jfr", "jdk.ExecutionSample", line_numbers=True)
    assert samples.stacks["jdk.ExecutionSample"] == reference
    assert any(frame.startswith("Busy.leaf:") for stack in reference for frame in stack)


def test_busy_program_call_chain() -> None:
    stacks = read_samples((JFR / "busy.jfr").read_bytes()).stacks["jdk.ExecutionSample"]
    chain = ("Busy.main_[j]", "Busy.spin_[j]", "Busy.mid_[j]", "Busy.leaf_[j]")
    assert stacks[chain] > 0.9 * sum(stacks.values())


def test_deep_stacks_are_marked_truncated() -> None:
    stacks = read_samples((JFR / "deep.jfr").read_bytes()).stacks["jdk.ExecutionSample"]
    assert all(stack[0] == "[truncated]_[j]" for stack in stacks)
    assert all(len(stack) == 65 for stack in stacks)  # JFR's default stack depth, plus the marker
    # the top frames are the ones kept: mostly in spin(), the leaf
    spinning = sum(count for stack, count in stacks.items() if stack[-1] == "Deep.spin_[j]")
    assert spinning > 0.8 * sum(stacks.values())


def test_every_chunk_of_a_multi_chunk_file_is_read() -> None:
    busy, deep = (JFR / "busy.jfr").read_bytes(), (JFR / "deep.jfr").read_bytes()
    both = read_samples(busy + deep)
    assert both.chunks == 2
    assert both.total("jdk.ExecutionSample") == (
        read_samples(busy).total("jdk.ExecutionSample") + read_samples(deep).total("jdk.ExecutionSample")
    )


def test_bad_input_raises_a_format_error() -> None:
    data = (JFR / "busy.jfr").read_bytes()
    with pytest.raises(JfrFormatError, match="not a JFR chunk"):
        read_samples(b"PK\x03\x04" + data[4:])
    with pytest.raises(JfrFormatError, match=r"incomplete chunk|truncated"):
        read_samples(data[: len(data) // 2])
    uncompressed = bytearray(data)
    uncompressed[67] &= 0xFE  # clear the compressed-integers feature flag
    with pytest.raises(JfrFormatError, match="compressed integers"):
        read_samples(bytes(uncompressed))


def test_corrupt_input_raises_only_format_errors() -> None:
    data = bytearray((JFR / "busy.jfr").read_bytes())
    for offset in range(70, len(data), 499):
        corrupt = bytearray(data)
        corrupt[offset] ^= 0xFF
        with contextlib.suppress(JfrFormatError):
            read_samples(bytes(corrupt))


def test_metadata_of_each_new_recording_of_a_jvm_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every recording's metadata event carries its own start time, duration and id before the
    same type table: two recordings of one JVM differ only there, and the second is not parsed."""
    from gprofiler.profilers.java import jfr_format

    data = (JFR / "busy.jfr").read_bytes()
    (metadata_offset,) = struct.unpack_from(">q", data, 24)  # the chunk header's metadata position
    reader = jfr_format.ByteReader(data, metadata_offset)
    reader.count(), reader.varint()  # size, event type
    start_time = reader.pos
    reader.varint()
    assert reader.pos - start_time > 1  # a multi-byte varint: its first byte's low bits can change
    other = bytearray(data)
    other[start_time] ^= 0x01
    assert bytes(other) != data
    parsed = []
    real_parse = jfr_format._parse_metadata

    def counted_parse(reader: jfr_format.ByteReader) -> dict[int, jfr_format.TypeDef]:
        parsed.append(reader.pos)
        return real_parse(reader)

    monkeypatch.setattr(jfr_format, "_parse_metadata", counted_parse)
    jfr_format._METADATA_CACHE.clear()
    first, second = read_samples(data), read_samples(bytes(other))
    assert len(parsed) == 1
    assert first == second
