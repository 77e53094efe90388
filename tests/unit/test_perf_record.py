from pathlib import Path

import pytest

from gprofiler.perf_tool import KallsymsCopy, PerfError, find_perf, perf_script_argv
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


def test_kallsyms_copy_is_private_and_made_again_when_modules_change(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "modules").write_text("ext4 1 0 - Live 0x0\n")
    (proc / "kallsyms").write_text("ffffffff81000000 T _stext\n")
    work = tmp_path / "work"
    work.mkdir()
    copy = KallsymsCopy(work, proc, max_age=600)
    path = copy.current(now=0.0)
    assert path == work / "kallsyms" and path.read_text() == "ffffffff81000000 T _stext\n"
    assert path.stat().st_mode & 0o777 == 0o600
    (proc / "kallsyms").write_text("ffffffff81000000 T _stext\nffffffffc0000000 t new_module_fn\n")
    assert copy.current(now=10.0) is not None and path.read_text().count("\n") == 1  # nothing changed
    (proc / "modules").write_text("ext4 1 0 - Live 0x0\nnew 1 0 - Live 0x0\n")
    assert copy.current(now=20.0) is not None and path.read_text().count("\n") == 2  # a module came
    (proc / "kallsyms").write_text("ffffffff81000000 T _stext\nffffffffa0000000 t bpf_prog_x\n")
    assert copy.current(now=700.0) is not None and "bpf_prog_x" in path.read_text()  # too old
    (proc / "modules").unlink()  # a kernel without loadable modules: a change of its own
    assert copy.current(now=710.0) is not None
    (proc / "kallsyms").unlink()
    assert copy.current(now=2000.0) is None  # unreadable: perf reads /proc/kallsyms itself then
    copy.remove()
    assert list(work.iterdir()) == []


def test_kallsyms_copy_of_this_machine_and_perf_scripts_argv(tmp_path: Path) -> None:
    path = KallsymsCopy(tmp_path).current(now=0.0)
    assert path is not None
    assert path.read_bytes().count(b"\n") == Path("/proc/kallsyms").read_bytes().count(b"\n")
    assert perf_script_argv("perf", Path("/w/d"), path)[-2:] == ["--kallsyms", str(path)]
    assert "--kallsyms" not in perf_script_argv("perf", Path("/w/d"))
