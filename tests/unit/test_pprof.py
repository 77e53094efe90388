"""pprof and speedscope from the agent's `.col` (the real cycle fixtures) and back, a real Go CPU
profile read, and refusals of profiles that do not resolve."""

import gzip
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gprofiler.commands.convert import convert_main
from gprofiler.output import profile_pb2
from gprofiler.output.collapsed import read_header
from gprofiler.output.frames import FrameParts, frame_text, split_frame
from gprofiler.output.pprof import (
    PprofError,
    col_to_pprof,
    parse_pprof,
    pprof_to_col,
    stack_lines,
)
from gprofiler.output.speedscope import to_speedscope

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
COLS = [FIXTURES / "profiles" / "cycle.col", *sorted((FIXTURES / "cycle").glob("*.col"))]


@pytest.mark.parametrize("path", COLS, ids=lambda path: path.name)
def test_a_col_comes_back_from_its_pprof_line_for_line(path: Path) -> None:
    text = path.read_text()
    assert pprof_to_col(col_to_pprof(text)) == text


def _strings(profile: profile_pb2.Profile) -> list[str]:
    return list(profile.string_table)


def test_pprof_types_times_labels_and_frames() -> None:
    text = (FIXTURES / "cycle" / "all.col").read_text()
    profile = parse_pprof(col_to_pprof(text, frequency=10))
    strings = _strings(profile)
    assert [(strings[t.type], strings[t.unit]) for t in profile.sample_type] == [
        ("samples", "count"),
        ("cpu", "nanoseconds"),
    ]
    assert profile.period == 100_000_000 and strings[profile.period_type.type] == "cpu"
    start = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    assert profile.time_nanos == int(start.timestamp()) * 10**9 and profile.duration_nanos == 60 * 10**9
    total = sum(line.count for line in stack_lines(text))
    assert sum(sample.value[0] for sample in profile.sample) == total
    assert all(sample.value[1] == sample.value[0] * profile.period for sample in profile.sample)
    labels: Counter[tuple[str, str]] = Counter()
    for sample in profile.sample:
        for label in sample.label:
            labels[(strings[label.key], strings[label.str] if label.str else str(label.num))] += sample.value[
                0
            ]
    assert ("container", "web-1") in labels and ("process", "python3") in labels
    assert ("app", "python: busy.py (/tmp/gp-fixture/busy.py)") in labels
    functions = {strings[f.system_name]: f for f in profile.function}
    leaf = functions["gp_leaf_[p]"]
    assert strings[leaf.name] == "gp_leaf" and strings[leaf.filename] == "/tmp/gp-fixture/busy.py"
    lines = {(line.function_id, line.line) for location in profile.location for line in location.line}
    assert (leaf.id, 11) in lines
    assert "Busy.leaf_[j]" in functions and "vfs_read_[k]" in functions and "gpLeaf_[js]" in functions


def test_a_go_cpu_profile_becomes_a_col_with_its_totals() -> None:
    data = (FIXTURES / "pprof" / "go_cpu.pb.gz").read_bytes()
    text = pprof_to_col(data, hostname="builder")
    header = read_header(text)
    assert header["metadata"] == {"hostname": "builder", "source": "pprof"}
    assert header["start_time"].startswith("2026-12-02T07:00:04")
    lines = list(stack_lines(text))
    assert sum(line.count for line in lines) == 202
    assert len({line.frames for line in lines}) == len(lines)  # equal stacks summed
    assert {line.process for line in lines} == {"gp_selfprofile"}  # the main mapping's file
    leaf = sum(line.count for line in lines if line.frames[-1].startswith("main.gpLeaf ("))
    assert leaf == 149
    chain = next(line.frames for line in lines if line.frames[-1].startswith("main.gpLeaf ("))
    assert [split_frame(frame).name for frame in chain] == [
        "runtime.main", "main.main", "main.gpOuter", "main.gpMiddle", "main.gpLeaf",
    ]  # fmt: skip
    assert chain[-1] == "main.gpLeaf (./main.go:17)" or chain[-1] == "main.gpLeaf (./main.go:18)"
    # and to pprof again: the same totals
    again = parse_pprof(col_to_pprof(text))
    assert sum(sample.value[0] for sample in again.sample) == 202


def test_speedscope_one_profile_per_process_with_files_and_lines() -> None:
    text = (FIXTURES / "cycle" / "all.col").read_text()
    document = json.loads(to_speedscope(stack_lines(text), "fixture"))
    assert document["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = document["shared"]["frames"]
    assert {"name": "gp_leaf", "file": "/tmp/gp-fixture/busy.py", "line": 11} in frames
    names = [profile["name"] for profile in document["profiles"]]
    assert "java (java: Busy) [web-1]" in names and len(names) == len(set(names))
    for profile in document["profiles"]:
        assert profile["type"] == "sampled" and len(profile["samples"]) == len(profile["weights"])
        assert profile["endValue"] == sum(profile["weights"])
    assert sum(p["endValue"] for p in document["profiles"]) == sum(line.count for line in stack_lines(text))


@pytest.mark.parametrize(
    "frame",
    ["gp_leaf (/srv/a b.py:11)_[p]", "<module> (<string>:1)_[p]", "gp - /srv/x.rb:13_[rb]",
     "gpLeaf /srv/busy.js:1_[js]", "Foo::bar /srv/x.php:7_[php]", "Busy.spin_[j]", "vfs_read_[k]",
     "main", "x (y:0)_[p]", "odd (f:012)_[p]", "[unknown]", "__libc_start_main@@GLIBC_2.34"],
)  # fmt: skip
def test_frames_split_and_come_back(frame: str) -> None:
    assert frame_text(split_frame(frame)) == frame


@given(
    st.text(max_size=40), st.sampled_from(["", "_[p]", "_[rb]", "_[js]", "_[php]", "_[k]", "_[j]", "_[x]"])
)
def test_any_frame_comes_back_from_its_parts(name: str, suffix: str) -> None:
    assert frame_text(split_frame(name + suffix)) == name + suffix


def test_parts_of_each_runtimes_form() -> None:
    assert split_frame("gp_leaf (/srv/a.py:11)_[p]") == FrameParts("gp_leaf", "/srv/a.py", 11, "p")
    assert split_frame("gp - /srv/x.rb:13_[rb]") == FrameParts("gp", "/srv/x.rb", 13, "rb")
    assert split_frame("gpLeaf /srv/busy.js:1_[js]") == FrameParts("gpLeaf", "/srv/busy.js", 1, "js")
    assert split_frame("vfs_read_[k]") == FrameParts("vfs_read", "", 0, "k")
    assert split_frame("main (x.c:3)") == FrameParts("main", "x.c", 3, "")  # a pprof's native frame
    assert split_frame("operator()(int) const") == FrameParts("operator()(int) const", "", 0, "")


def test_an_app_index_outside_the_header_is_nothing_known() -> None:
    text = (FIXTURES / "cycle" / "all.col").read_text()
    profile = parse_pprof(col_to_pprof(text))
    strings = list(profile.string_table)
    for sample in profile.sample:
        for label in sample.label:
            if strings[label.key] == "app_metadata":
                label.num = 10**6
    lines = list(stack_lines(pprof_to_col(gzip.compress(profile.SerializeToString()))))
    assert lines and {line.app_index for line in lines} == {0}


def _broken(change: str) -> bytes:
    profile = parse_pprof(col_to_pprof((FIXTURES / "cycle" / "only_web.col").read_text()))
    if change == "string":
        profile.function[0].name = 10**6
    elif change == "location":
        profile.sample[0].location_id.append(10**6)
    elif change == "function":
        profile.location[0].line[0].function_id = 10**6
    return gzip.compress(profile.SerializeToString())


@pytest.mark.parametrize("change", ["string", "location", "function"])
def test_a_pprof_that_does_not_resolve_is_refused(change: str) -> None:
    with pytest.raises(PprofError):
        pprof_to_col(_broken(change))


def test_garbage_truncation_and_bombs_are_refused() -> None:
    data = col_to_pprof((FIXTURES / "cycle" / "all.col").read_text())
    with pytest.raises(PprofError, match="not a pprof"):
        pprof_to_col(gzip.decompress(data)[:-7])
    with pytest.raises(PprofError, match="gzipped"):
        pprof_to_col(data[:-20])
    with pytest.raises(PprofError, match="inflates to more than"):
        pprof_to_col(gzip.compress(b"\0" * 2_000_000), limit=1_000_000)
    # few frames, repeated by many samples: a small pprof, a large text
    frames = ";".join(f"function_number_{index:04d}_with_a_long_name" for index in range(50))
    header = (FIXTURES / "cycle" / "all.col").read_text().split("\n")[0]
    deep = header + "\n" + "".join(f"0;;app;{frames};leaf{index} 1\n" for index in range(200))
    small = col_to_pprof(deep)
    assert len(gzip.decompress(small)) < 50_000
    with pytest.raises(PprofError, match="bytes of text"):
        pprof_to_col(small, limit=100_000)


def test_convert_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "profile_2026-12-01T10:01:00.col"
    source.write_bytes((FIXTURES / "cycle" / "all.col").read_bytes())
    assert convert_main([str(source)]) == 0
    pprof_file = tmp_path / "profile_2026-12-01T10:01:00.pb.gz"
    assert parse_pprof(pprof_file.read_bytes()).sample
    assert convert_main([str(pprof_file), "-o", str(tmp_path / "back.col")]) == 0
    assert (tmp_path / "back.col").read_bytes() == source.read_bytes()
    assert convert_main([str(source), "--to", "speedscope"]) == 0
    assert json.loads((tmp_path / "profile_2026-12-01T10:01:00.speedscope.json").read_text())["profiles"]
    (tmp_path / "junk").write_bytes(b"\x1f\x8bnot gzip")
    assert convert_main([str(tmp_path / "junk")]) == 1
    assert convert_main([str(tmp_path / "missing.col")]) == 1
    assert "cannot read" in capsys.readouterr().err
