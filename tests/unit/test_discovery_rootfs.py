"""Files inside a process's root are read without ever leaving it, whatever symlinks it holds."""

import errno
import os
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gprofiler.discovery.rootfs import (
    listdir_in_root,
    makedirs_in_root,
    open_in_root,
    read_in_root,
    rmdir_in_root,
    unlink_in_root,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "host-secret").write_text("HOST SECRET")
    container = tmp_path / "container"
    (container / "tmp").mkdir(parents=True)
    (container / "etc").mkdir()
    (container / "tmp" / "perf-1.map").write_text("inside")
    (container / "etc" / "passwd").write_text("container passwd")
    (container / "host-secret").write_text("the container's own file")
    os.symlink(str(tmp_path / "host-secret"), container / "tmp" / "absolute")  # host path, absolute
    os.symlink("../../../../../host-secret", container / "tmp" / "climb")  # tries to climb out
    os.symlink("/etc/passwd", container / "tmp" / "passwd-link")
    os.symlink("/tmp", container / "tmpdir")
    os.symlink("loop-b", container / "tmp" / "loop-a")
    os.symlink("loop-a", container / "tmp" / "loop-b")
    return container


def test_plain_file(root: Path) -> None:
    assert read_in_root(root, "/tmp/perf-1.map", 100) == b"inside"


def test_absolute_symlink_resolves_in_the_container(root: Path) -> None:
    assert read_in_root(root, "/tmp/passwd-link", 100) == b"container passwd"
    # a link to a host path that does not exist in the container is not found, never the host file
    with pytest.raises(FileNotFoundError):
        read_in_root(root, "/tmp/absolute", 100)


def test_dotdot_cannot_climb_above_the_root(root: Path) -> None:
    assert read_in_root(root, "/tmp/climb", 100) == b"the container's own file"
    assert read_in_root(root, "/../../../etc/passwd", 100) == b"container passwd"


def test_directory_symlinks_and_loops(root: Path) -> None:
    assert read_in_root(root, "/tmpdir/perf-1.map", 100) == b"inside"
    with pytest.raises(OSError) as caught:
        read_in_root(root, "/tmp/loop-a", 100)
    assert caught.value.errno == errno.ELOOP


def test_create_list_and_remove(root: Path) -> None:
    makedirs_in_root(root, "/tmpdir/.agent/sub", 0o755)
    assert (root / "tmp" / ".agent" / "sub").is_dir()
    fd = open_in_root(root, "/tmp/.agent/sub/file", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"x")
    os.close(fd)
    assert listdir_in_root(root, "/tmp/.agent/sub") == ["file"]
    with pytest.raises(FileExistsError):
        open_in_root(root, "/tmp/.agent/sub/file", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    unlink_in_root(root, "/tmp/.agent/sub/file")
    rmdir_in_root(root, "/tmp/.agent/sub")
    assert not (root / "tmp" / ".agent" / "sub").exists()


def test_creating_through_a_planted_symlink_is_refused(root: Path, tmp_path: Path) -> None:
    os.symlink(str(tmp_path / "host-new"), root / "tmp" / "planted")
    with pytest.raises(OSError):
        open_in_root(root, "/tmp/planted", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    assert not (tmp_path / "host-new").exists()


def test_created_files_and_directories_get_their_mode_whatever_the_umask(root: Path) -> None:
    # gprofiler.service runs with UMask=0077; a JVM run as another user must still read these.
    previous = os.umask(0o077)
    try:
        makedirs_in_root(root, "/tmp/agent/lib", 0o755)
        os.close(
            open_in_root(root, "/tmp/agent/lib/settings.jfc", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        )
    finally:
        os.umask(previous)
    assert (root / "tmp" / "agent").stat().st_mode & 0o777 == 0o755
    assert (root / "tmp" / "agent" / "lib").stat().st_mode & 0o777 == 0o755
    assert (root / "tmp" / "agent" / "lib" / "settings.jfc").stat().st_mode & 0o777 == 0o644


def _fails_fast(call: Callable[[], object]) -> OSError:
    """Runs `call` in a thread: a FIFO opened the old way blocks forever, which must fail, not hang."""
    outcome: list[BaseException | object] = []
    thread = threading.Thread(target=lambda: outcome.append(_capture(call)), daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "blocked on a FIFO"
    assert isinstance(outcome[0], OSError), outcome
    return outcome[0]


def _capture(call: Callable[[], object]) -> BaseException | object:
    try:
        return call()
    except BaseException as error:
        return error


def test_a_fifo_is_refused_not_waited_on(root: Path) -> None:
    os.mkfifo(root / "tmp" / "RECORD")
    error = _fails_fast(lambda: read_in_root(root, "/tmp/RECORD", 100))
    assert error.errno == errno.EINVAL
    # writing (the JVM attach trigger is opened O_WRONLY|O_CREAT|O_TRUNC) would block until a reader
    _fails_fast(lambda: open_in_root(root, "/tmp/RECORD", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    # and through a symlink inside the root
    os.symlink("/tmp/RECORD", root / "tmp" / "record-link")
    _fails_fast(lambda: read_in_root(root, "/tmp/record-link", 100))


def test_devices_and_sockets_are_refused(root: Path) -> None:
    os.mknod(root / "tmp" / "zero", 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero: never ends
    assert _fails_fast(lambda: read_in_root(root, "/tmp/zero", 1 << 30)).errno == errno.EINVAL
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(root / "tmp" / "sock"))
        assert _fails_fast(lambda: read_in_root(root, "/tmp/sock", 100)).errno in (errno.EINVAL, errno.ENXIO)
    # directories and O_PATH descriptors are still there for those who ask for them
    os.close(open_in_root(root, "/tmp", os.O_RDONLY | os.O_DIRECTORY))


def test_reads_stop_at_the_limit(root: Path) -> None:
    (root / "tmp" / "big").write_bytes(b"x" * 10_000)
    assert read_in_root(root, "/tmp/big", 100) == b"x" * 100
