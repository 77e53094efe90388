from pathlib import Path

from gprofiler.discovery.procfs import (
    innermost_pid,
    parse_cmdline,
    parse_mapped_paths,
    parse_stat_start_time,
    parse_status,
)
from gprofiler.discovery.runtimes import PYTHON, libpython_path, runtime_from_maps

PROC = Path(__file__).resolve().parent.parent / "fixtures" / "proc"


def test_status_and_namespaced_pid() -> None:
    status = parse_status((PROC / "python_status").read_text())
    assert status["Name"] == "python3"
    assert innermost_pid(status, 1) == int(status["Pid"])
    namespaced = {"NSpid": "13945\t2"}
    assert innermost_pid(namespaced, 13945) == 2


def test_start_time_survives_hostile_comm() -> None:
    # the comm "x) (y 1 2" contains ") (" and digits: fields are counted after the last ')'
    odd = (PROC / "odd_comm_stat").read_text()
    assert odd.split(") ")[0].endswith("(x")
    start = parse_stat_start_time(odd)
    assert start == int(odd[odd.rindex(")") + 2 :].split()[19])
    assert parse_stat_start_time((PROC / "python_stat").read_text()) > 0


def test_cmdline() -> None:
    assert parse_cmdline(b"/usr/bin/python3\0app.py\0--port\0\0") == (
        "/usr/bin/python3",
        "app.py",
        "--port",
        "",
    )
    assert parse_cmdline(b"gunicorn: worker [app:app]") == ("gunicorn: worker [app:app]",)
    assert parse_cmdline(b"") == ()
    assert parse_cmdline(b"a\xff\0") == ("a\\xff",)


def test_mapped_paths_and_embedded_python() -> None:
    static_python = parse_mapped_paths((PROC / "python_maps").read_text())
    assert "/usr/bin/python3.11" in static_python
    assert runtime_from_maps(static_python) is None  # Debian's python3 has no libpython: its exe tells
    perf = parse_mapped_paths((PROC / "perf_maps").read_text())
    assert runtime_from_maps(perf) == PYTHON  # perf embeds libpython for its scripts
    assert libpython_path(perf) == "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
    assert len(perf) == len(set(perf))


def test_deleted_mappings_keep_their_path() -> None:
    maps = "7f00-7f10 r-xp 00000000 fe:00 1 /opt/app/libfoo.so (deleted)\n7f10-7f20 rw-p 0 00:00 0 [heap]\n"
    assert parse_mapped_paths(maps) == ["/opt/app/libfoo.so"]
