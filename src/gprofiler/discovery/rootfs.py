"""Open files inside another process's root filesystem without escaping it.

The agent runs as root on the host; a container's filesystem is untrusted. Opening
`/proc/PID/root/tmp/x` naively would follow a symlink `x -> /etc/shadow` relative to the *host's*
root. Here every component is opened with O_NOFOLLOW relative to the directory opened before it;
symlinks are resolved by hand, with absolute targets restarting at the process's root and `..`
never climbing above it (what openat2's RESOLVE_IN_ROOT does in the kernel).
"""

import contextlib
import errno
import os
import stat
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MAX_SYMLINKS = 40
_PATH = getattr(os, "O_PATH", 0)


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


class _Walk:
    """Directory fds from the root to the current directory; closes them all at the end."""

    def __init__(self, root: str) -> None:
        self.root_fd = os.open(root, _PATH | os.O_DIRECTORY)
        self.stack = [self.root_fd]

    @property
    def current(self) -> int:
        return self.stack[-1]

    def up(self) -> None:
        if len(self.stack) > 1:
            os.close(self.stack.pop())

    def to_root(self) -> None:
        while len(self.stack) > 1:
            os.close(self.stack.pop())

    def close(self) -> None:
        for fd in self.stack:
            os.close(fd)
        self.stack = []


def _resolve_parent(walk: _Walk, path: str) -> str:
    """Walk every component but the last, following symlinks inside the root; return the last."""
    pending = deque(_components(path))
    links = 0
    while len(pending) > 1 or (pending and pending[0] == ".."):
        name = pending.popleft()
        if name == "..":
            walk.up()
            continue
        fd = os.open(name, _PATH | os.O_NOFOLLOW, dir_fd=walk.current)
        mode = os.fstat(fd).st_mode
        if stat.S_ISLNK(mode):
            os.close(fd)
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, "too many symbolic links", path)
            target = os.readlink(name, dir_fd=walk.current)
            if target.startswith("/"):
                walk.to_root()
            pending.extendleft(reversed(_components(target)))
        elif stat.S_ISDIR(mode):
            walk.stack.append(fd)
        else:
            os.close(fd)
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
    if not pending:
        raise IsADirectoryError(errno.EISDIR, "is the root directory", path)
    return pending[0]


def open_in_root(root: str | Path, path: str, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """An fd for `path` inside `root` (e.g. /proc/PID/root); the caller closes it.

    Symlinks in the directories are followed within the root; the final component must not be a
    symlink (O_NOFOLLOW), so a swapped-in link fails with ELOOP instead of being followed. With
    O_CREAT the file gets exactly `mode`, whatever the agent's umask (a service may run with 0077,
    and these files are for the target's user to read).

    Unless asked for a directory or an O_PATH descriptor, only a regular file is ever opened: a
    FIFO would block `open` (read-only until a writer comes, write-only until a reader does) and a
    device could do anything on open or never end on read. The type is checked on an O_PATH
    descriptor first (opening nothing), and again after the real open, which is non-blocking, so a
    file swapped in between is refused rather than waited on.
    """
    walk = _Walk(str(root))
    try:
        for _ in range(MAX_SYMLINKS):
            name = _resolve_parent(walk, path)
            if not flags & os.O_CREAT and _is_symlink(walk.current, name):
                # The last component is a symlink: resolve it in the root like the others.
                target = os.readlink(name, dir_fd=walk.current)
                path = target if target.startswith("/") else f"{_relative_dir(walk, path)}/{target}"
                walk.close()
                walk = _Walk(str(root))
                continue
            regular_only = not flags & (_PATH | os.O_DIRECTORY)
            if regular_only:
                _refuse_special(walk.current, name, path)
                flags |= os.O_NONBLOCK
            # O_NOFOLLOW: a symlink swapped in since the check fails (ELOOP/ENOTDIR), never followed.
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=walk.current)
            try:
                if regular_only:
                    require_regular(fd, path)
                if flags & os.O_CREAT:
                    os.fchmod(fd, mode)
            except BaseException:
                os.close(fd)
                raise
            return fd
        raise OSError(errno.ELOOP, "too many symbolic links", path)
    finally:
        walk.close()


def _refuse_special(directory_fd: int, name: str, path: str) -> None:
    """OSError(EINVAL) if `name` exists and is not a regular file; nothing is opened but a path."""
    try:
        fd = os.open(name, _PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory_fd)
    except FileNotFoundError:
        return  # to be created (O_CREAT), or the real open says it is missing
    try:
        require_regular(fd, path)
    finally:
        os.close(fd)


def require_regular(fd: int, path: str) -> None:
    """OSError(EINVAL) unless `fd` is a regular file."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise OSError(errno.EINVAL, "not a regular file", path)


def open_regular(path: str | Path) -> BinaryIO:
    """A regular file for reading (a process's binary through /proc/PID/exe or map_files); OSError
    for anything else. A process can map a device or FIFO under a library's name (/dev/zero as
    libpython3.11.so never ends), and the open itself never blocks."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        require_regular(fd, str(path))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _is_symlink(directory_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=directory_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _relative_dir(walk: _Walk, path: str) -> str:
    parts = _components(path)
    return "/".join(parts[:-1])


def read_in_root(root: str | Path, path: str, limit: int) -> bytes:
    """At most `limit` bytes of a regular file inside `root` (anything else is refused unopened)."""
    fd = open_in_root(root, path)
    with os.fdopen(fd, "rb") as file:
        return file.read(limit)


@contextlib.contextmanager
def socket_address_in_root(root: str | Path, path: str) -> Iterator[str]:
    """An address to connect() to the UNIX socket at `path` inside `root`, valid inside the `with`.

    The socket file is opened as an O_PATH descriptor, resolved like `open_in_root`, and reached as
    `/proc/self/fd/N`: connect() never walks the path itself (an absolute symlink on it would be
    followed from the agent's root, not from `root`).
    """
    fd = open_in_root(root, path, _PATH)
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise OSError(errno.ENOTSOCK, "not a socket", path)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def makedirs_in_root(root: str | Path, path: str, mode: int = 0o755) -> None:
    """mkdir -p inside `root`, each level created relative to its (verified) parent, with exactly `mode`."""
    parts = _components(path)
    for depth in range(1, len(parts) + 1):
        walk = _Walk(str(root))
        try:
            name = _resolve_parent(walk, "/".join(parts[:depth]))
            try:
                os.mkdir(name, mode, dir_fd=walk.current)
                created = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=walk.current)
                try:
                    os.fchmod(created, mode)
                finally:
                    os.close(created)
            except FileExistsError:
                # Already there (possibly a symlink): it must resolve, inside the root, to a directory.
                os.close(open_in_root(root, "/".join(parts[:depth]), os.O_RDONLY | os.O_DIRECTORY))
        finally:
            walk.close()


def unlink_in_root(root: str | Path, path: str) -> None:
    walk = _Walk(str(root))
    try:
        name = _resolve_parent(walk, path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=walk.current)
    finally:
        walk.close()


def listdir_in_root(root: str | Path, path: str) -> list[str]:
    fd = open_in_root(root, path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def rmdir_in_root(root: str | Path, path: str) -> None:
    """Remove an empty directory inside `root`; a missing or non-empty one is left alone."""
    walk = _Walk(str(root))
    try:
        name = _resolve_parent(walk, path)
        with contextlib.suppress(FileNotFoundError, OSError):
            os.rmdir(name, dir_fd=walk.current)
    finally:
        walk.close()
