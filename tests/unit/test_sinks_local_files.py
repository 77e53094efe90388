import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gprofiler.output.flamegraph import load_assets
from gprofiler.profile import CycleProfile, profile_from_collapsed
from gprofiler.sinks.local_files import LocalFilesSink, profile_basename, swap_symlink

T0 = datetime(2026, 11, 26, 5, 0, 0, 250000, tzinfo=timezone.utc)


def _profile(seconds: int, body: str = "0;;busy;main;gp_leaf 5\n") -> CycleProfile:
    end = T0 + timedelta(seconds=seconds)
    return profile_from_collapsed(
        '# {"metadata":{}}\n' + body, start_time=end - timedelta(seconds=10), end_time=end, hostname="h1"
    )


def test_file_names_follow_gprofiler() -> None:
    assert profile_basename(_profile(0)) == "profile_2026-11-26T05:00:00"


def test_writes_pair_and_points_symlinks_at_newest(tmp_path: Path) -> None:
    sink = LocalFilesSink(tmp_path, flamegraph=load_assets(), rotating=False)
    sink.write(_profile(0))
    sink.write(_profile(10))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "last_flamegraph.html",
        "last_profile.col",
        "profile_2026-11-26T05:00:00.col",
        "profile_2026-11-26T05:00:00.html",
        "profile_2026-11-26T05:00:10.col",
        "profile_2026-11-26T05:00:10.html",
    ]
    assert os.readlink(tmp_path / "last_profile.col") == "profile_2026-11-26T05:00:10.col"
    assert os.readlink(tmp_path / "last_flamegraph.html") == "profile_2026-11-26T05:00:10.html"
    assert "gp_leaf" in (tmp_path / "last_flamegraph.html").read_text()
    assert (tmp_path / "last_profile.col").stat().st_mode & 0o777 == 0o644


def test_rotating_output_keeps_one_pair(tmp_path: Path) -> None:
    sink = LocalFilesSink(tmp_path, flamegraph=load_assets(), rotating=True)
    for seconds in (0, 10, 20):
        sink.write(_profile(seconds))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "last_flamegraph.html",
        "last_profile.col",
        "profile_2026-11-26T05:00:20.col",
        "profile_2026-11-26T05:00:20.html",
    ]


def test_no_flamegraph_writes_only_collapsed(tmp_path: Path) -> None:
    LocalFilesSink(tmp_path, flamegraph=None, rotating=False).write(_profile(0))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "last_profile.col",
        "profile_2026-11-26T05:00:00.col",
    ]


def test_symlink_swap_replaces_whatever_was_there(tmp_path: Path) -> None:
    (tmp_path / "link").write_text("a regular file")
    assert swap_symlink(tmp_path / "link", "target") is None
    assert os.readlink(tmp_path / "link") == "target"
    assert swap_symlink(tmp_path / "link", "other") == "target"


def test_unwritable_directory_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "gone"
    LocalFilesSink(missing, flamegraph=None, rotating=False).write(_profile(0))
    assert "could not write the profile" in caplog.text


def test_output_formats_write_pprof_and_speedscope_and_rotate_them(tmp_path: Path) -> None:
    from gprofiler.output.pprof import parse_pprof, pprof_to_col

    sink = LocalFilesSink(
        tmp_path, flamegraph=None, rotating=True, formats=("pprof", "col", "speedscope"), frequency=99
    )
    for seconds in (0, 10):
        sink.write(_profile(seconds))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "last_profile.col",
        "last_profile.pb.gz",
        "last_profile.speedscope.json",
        "profile_2026-11-26T05:00:10.col",
        "profile_2026-11-26T05:00:10.pb.gz",
        "profile_2026-11-26T05:00:10.speedscope.json",
    ]
    data = (tmp_path / "last_profile.pb.gz").read_bytes()
    assert parse_pprof(data).period == round(1e9 / 99)
    assert pprof_to_col(data) == (tmp_path / "last_profile.col").read_text()
    assert '"name":"gp_leaf"' in (tmp_path / "last_profile.speedscope.json").read_text()


def test_output_formats_option() -> None:
    import argparse

    from gprofiler.agent_cli import output_formats

    assert output_formats("col,pprof") == ("col", "pprof")
    assert output_formats(" speedscope , speedscope") == ("speedscope",)
    for bad in ("", "col,svg", ","):
        with pytest.raises(argparse.ArgumentTypeError):
            output_formats(bad)
