import json
from collections import Counter
from datetime import datetime, timezone

import pytest

from gprofiler.output.collapsed import (
    display_stacks,
    format_collapsed,
    format_plain_collapsed,
    metadata_table,
    profile_header,
    read_header,
    split_count,
)
from gprofiler.stacks.model import PidStacks

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
