"""How children are started from inside the single-file executable (gprofiler.bundle)."""

import os
import shutil
import sys
from pathlib import Path

import pytest

from gprofiler import bundle

PERF = shutil.which("perf")
PYSPY = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")


@pytest.mark.skipif(PERF is None or PYSPY is None, reason="needs perf and py-spy installed (./dev.sh setup)")
def test_only_dynamically_linked_tools_need_the_loader() -> None:
    assert PERF is not None and PYSPY is not None
    assert bundle._needs_loader(os.path.realpath(PERF))  # Debian's perf: dynamic
    assert not bundle._needs_loader(os.path.realpath(PYSPY))  # py-spy's wheel: static-pie
    assert not bundle._needs_loader(__file__)  # not an ELF at all


@pytest.mark.skipif(PERF is None, reason="needs perf installed (./dev.sh setup)")
def test_bundled_dynamic_tool_runs_through_the_staticx_loader_under_its_own_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PERF is not None
    tools, staticx = tmp_path / "tools", tmp_path / "staticx"
    tools.mkdir()
    staticx.mkdir()
    (staticx / ".staticx.interp").write_bytes(b"")
    perf = tools / "perf"
    shutil.copyfile(os.path.realpath(PERF), perf)
    monkeypatch.setattr(bundle, "tools_dir", lambda: tools)
    monkeypatch.setenv("STATICX_BUNDLE_DIR", str(staticx))

    argv = bundle.launch_argv([str(perf), "record", "-a"])

    assert argv == [
        str(staticx / ".gprofiler-tools" / "perf"),
        "--library-path",
        str(staticx),
        str(perf),
        "record",
        "-a",
    ]
    assert os.readlink(argv[0]) == str(staticx / ".staticx.interp")


def test_tools_outside_the_bundle_or_outside_staticx_start_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATICX_BUNDLE_DIR", raising=False)
    assert bundle.launch_argv(["/usr/bin/perf", "record"]) == ["/usr/bin/perf", "record"]
    (tmp_path / ".staticx.interp").write_bytes(b"")
    monkeypatch.setenv("STATICX_BUNDLE_DIR", str(tmp_path))
    assert bundle.launch_argv(["/usr/bin/perf", "record"]) == ["/usr/bin/perf", "record"]


def test_children_of_the_executable_get_the_users_library_path_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    injected = {"LD_LIBRARY_PATH": "/tmp/_MEIabc", "LD_LIBRARY_PATH_ORIG": "/opt/lib", "HOME": "/root"}
    assert bundle.child_environment(injected) == {"LD_LIBRARY_PATH": "/opt/lib", "HOME": "/root"}
    assert bundle.child_environment({"LD_LIBRARY_PATH": "/tmp/_MEIabc", "HOME": "/root"}) == {"HOME": "/root"}


def test_outside_the_executable_the_environment_is_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert bundle.child_environment(None) is None
    assert bundle.child_environment({"LD_LIBRARY_PATH": "/x"}) == {"LD_LIBRARY_PATH": "/x"}
