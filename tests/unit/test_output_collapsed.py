import json
from collections import Counter
from datetime import datetime, timezone

import pytest

from gprofiler.output.collapsed import (
    MAX_LINE_BYTES,
    TRUNCATED_FRAME,
    display_stacks,
    format_collapsed,
    format_plain_collapsed,
    metadata_table,
    profile_header,
    read_header,
)
from gprofiler.stacks.escaping import escape_frame
from gprofiler.stacks.model import PidStacks
from gprofiler.stacks.tool_output import split_count

START = datetime(2026, 11, 26, 5, 0, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 26, 5, 1, 0, tzinfo=timezone.utc)
STACKS: PidStacks = {
    20: Counter({("python3", "main", "loop"): 3}),
    10: Counter({("busy", "main", "gp_leaf"): 5, ("busy", "main"): 1}),
}


def _header() -> dict[str, object]:
    return profile_header(
        metadata={"hostname": "h1", "agent_version": "0"},
        metrics={"cpu_avg": 12.5, "mem_avg": 40.0},
        start_time=START,
        end_time=END,
    )


def test_header_has_gprofiler_v2_fields() -> None:
    header = _header()
    assert set(header) >= {
        "metadata",
        "metrics",
        "containers",
        "container_names_enabled",
        "application_metadata",
        "application_metadata_enabled",
        "start_time",
        "end_time",
    }
    assert header["application_metadata"] == [None]
    assert datetime.fromisoformat(str(header["start_time"])) == START


def test_collapsed_text_layout() -> None:
    text = format_collapsed(_header(), STACKS)
    lines = text.splitlines()
    assert lines[0].startswith("# {")
    assert json.loads(lines[0][2:])["metrics"] == {"cpu_avg": 12.5, "mem_avg": 40.0}
    assert lines[1:] == [
        "0;;busy;main;gp_leaf 5",
        "0;;busy;main 1",
        "0;;python3;main;loop 3",
    ]
    assert read_header(text)["metadata"]["hostname"] == "h1"


def test_container_names_are_escaped_into_the_second_field() -> None:
    text = format_collapsed(_header(), {10: STACKS[10]}, container_of=lambda pid: "web;1")
    assert text.splitlines()[1] == "0;web\\x3b1;busy;main;gp_leaf 5"


def test_display_stacks_drop_index_and_empty_container() -> None:
    text = format_collapsed(_header(), STACKS) + "0;ctr;app;f 2\n"
    stacks = display_stacks(text)
    assert stacks["busy;main;gp_leaf"] == 5
    assert stacks["ctr;app;f"] == 2
    assert sum(stacks.values()) == 11


@pytest.mark.parametrize(
    ("line", "parsed"),
    [("a;b c 3", ("a;b c", 3)), ("a;b", None), ("a;b -1", None), ("a;b 0", None), (" 3", None)],
)
def test_split_count(line: str, parsed: tuple[str, int] | None) -> None:
    assert split_count(line) == parsed


def test_read_header_rejects_headerless_text() -> None:
    with pytest.raises(ValueError):
        read_header("a;b 1\n")


def test_plain_collapsed_merges_processes_and_sorts() -> None:
    stacks: PidStacks = {1: Counter({("b", "x"): 1, ("a", "y"): 2}), 2: Counter({("b", "x"): 4})}
    assert list(format_plain_collapsed(stacks)) == ["a;y 2", "b;x 5"]


def test_application_metadata_table_shares_equal_entries() -> None:
    python = {"exe": "/usr/bin/python3.11", "python_version": "3.11.2"}
    table, index_of = metadata_table({10: python, 11: dict(python), 12: None, 13: {"exe": "/usr/bin/node"}})
    assert table == [None, python, {"exe": "/usr/bin/node"}]
    assert index_of == {10: 1, 11: 1, 12: 0, 13: 2}
    text = format_collapsed(_header(), STACKS, app_index_of={10: 1})
    assert text.splitlines()[1].startswith("1;;busy;")
    assert text.splitlines()[3].startswith("0;;python3;")


def _accepted_by_studio(text: str) -> None:
    from gprofiler_studio.ingest import parse_collapsed

    assert parse_collapsed(text)  # raises IngestError naming the line it refuses


def test_every_line_is_one_studio_accepts() -> None:
    deep = ("deep", *(f"frame_number_{depth}_of_a_very_deep_stack" for depth in range(30_000)))
    wide = ("wide", "x" * 2_000_000)
    python = (
        "python3",
        "appid: python: app.py",
        *(f"f{depth} (/srv/app.py:{depth})_[p]" for depth in range(700)),
    )
    stacks: PidStacks = {
        1: Counter({("", "main", "leaf"): 1, ("named", "", "x"): 2, ("tail",): 3}),  # prctl(PR_SET_NAME, "")
        2: Counter({deep: 4, wide: 5, ("deep", "appid: node: x.js", *deep[1:]): 7}),
        3: Counter({("p", escape_frame("ends in space ")): 6}),
        4: Counter({python: 8}),
    }
    text = format_collapsed(_header(), stacks, container_of=lambda pid: "ctr" if pid == 2 else "")
    _accepted_by_studio(text)
    lines = text.split("\n")[1:-1]
    assert all(len(line.encode()) <= MAX_LINE_BYTES for line in lines)
    assert "0;;[empty];main;leaf 1" in lines and "0;;named;[empty];x 2" in lines
    (deep_line,) = (line for line in lines if line.startswith("0;ctr;deep;[truncated];"))
    frames = deep_line.rsplit(" ", 1)[0].split(";")
    assert frames[3] == TRUNCATED_FRAME and frames[-1] == deep[-1]  # cut at the root, the leaf kept
    assert frames[4:] == list(deep[-len(frames[4:]) :])
    (wide_line,) = (line for line in lines if line.startswith("0;ctr;wide;"))
    assert wide_line.endswith(" 5") and ";[truncated];xxx" in wide_line
    assert "0;;p;ends in space\\x20 6" in lines
    (appid_line,) = (line for line in lines if line.startswith("0;ctr;deep;appid: node: x.js;"))
    assert appid_line.split(";")[4] == TRUNCATED_FRAME  # the app id stays before the cut
    assert f"0;;{';'.join(python)} 8" in lines  # a 700-deep Python stack of real paths is whole
