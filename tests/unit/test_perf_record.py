from pathlib import Path

import pytest

from gprofiler.perf_tool import PerfError, find_perf, perf_script_argv
from gprofiler.profilers.perf.record import RecordOptions, may_leave_vdso_copies, perf_record_argv


def test_fp_record_argv_samples_everything() -> None:
    argv = perf_record_argv("perf", Path("/w/perf.fp.data"), RecordOptions(11, "fp"))
    assert argv[:4] == ["perf", "record", "-F", "11"]
    assert "-g" in argv and "-a" in argv
    assert "--switch-output=signal" in argv
    assert argv[argv.index("-o") + 1] == "/w/perf.fp.data"
    assert "--no-buildid-cache" in argv  # never fill ~/.debug with copies of binaries


def test_dwarf_record_argv_with_pids() -> None:
    argv = perf_record_argv("perf", Path("/w/d"), RecordOptions(49, "dwarf", 16384, (3, 9)))
    assert argv[argv.index("--call-graph") + 1] == "dwarf,16384"
    assert argv[argv.index("--pid") + 1] == "3,9"
    assert "-a" not in argv and "-g" not in argv


def test_script_argv_matches_the_parser() -> None:
    argv = perf_script_argv("perf", Path("/w/x"))
    assert argv[argv.index("-F") + 1] == "comm,pid,tid,ip,sym,dso"


def test_find_perf_errors_say_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PerfError, match="apt-get install linux-perf"):
        find_perf(None)
    with pytest.raises(PerfError, match="not an executable"):
        find_perf(str(tmp_path / "nothing"))


def test_vdso_copies_are_only_cleaned_up_off_the_host(tmp_path: Path) -> None:
    """On the host itself perf removes its own copy, and a new one may be another perf's."""
    proc = tmp_path / "proc"
    for pid in ("self", "1"):
        (proc / pid / "ns").mkdir(parents=True)
    (tmp_path / "mnt-ns").write_text("")
    (proc / "self" / "ns" / "mnt").symlink_to(tmp_path / "mnt-ns")
    (proc / "1" / "ns" / "mnt").symlink_to(tmp_path / "mnt-ns")
    (proc / "1" / "root").symlink_to("/")
    assert may_leave_vdso_copies(str(proc)) is False  # init's namespace and root: the host
    (proc / "1" / "root").unlink()
    (proc / "1" / "root").symlink_to(tmp_path)
    assert may_leave_vdso_copies(str(proc)) is True  # another root (a chroot)
    (proc / "1" / "root").unlink()
    (proc / "1" / "root").symlink_to("/")
    (tmp_path / "other-ns").write_text("")
    (proc / "1" / "ns" / "mnt").unlink()
    (proc / "1" / "ns" / "mnt").symlink_to(tmp_path / "other-ns")
    assert may_leave_vdso_copies(str(proc)) is True  # another mount namespace (a container)
    assert may_leave_vdso_copies(str(tmp_path / "nothing")) is True  # nothing to tell by
