"""Which /proc the agent reads (gprofiler.preconditions.resolve_proc_root)."""

from pathlib import Path

import pytest

from gprofiler.preconditions import PreconditionError, resolve_proc_root


def test_host_proc_mount_is_used_when_it_is_this_pid_namespaces_procfs(tmp_path: Path) -> None:
    host_mount = tmp_path / "host" / "proc"
    host_mount.parent.mkdir()
    host_mount.symlink_to("/proc")  # the real procfs, reached by another path, as a bind mount would be
    assert resolve_proc_root(None, host_mount) == host_mount


def test_without_a_usable_host_mount_the_agents_own_proc_is_used(tmp_path: Path) -> None:
    assert resolve_proc_root(None, tmp_path / "missing") == Path("/proc")
    (tmp_path / "not-procfs").mkdir()
    assert resolve_proc_root(None, tmp_path / "not-procfs") == Path("/proc")


def test_explicit_proc_root_must_be_this_pid_namespaces_procfs(tmp_path: Path) -> None:
    assert resolve_proc_root("/proc", tmp_path) == Path("/proc")
    with pytest.raises(PreconditionError, match="hostPID"):
        resolve_proc_root(str(tmp_path), tmp_path)
