"""Checks and process-wide settings made once, before the agent profiles anything."""

import errno
import os
import resource
import shutil
import socket
import stat
import tempfile
from pathlib import Path

# The inode of the initial PID namespace (PROC_PID_INIT_INO in the kernel).
INIT_PID_NAMESPACE_INODE = 0xEFFFFFFC
LOCK_NAME = "gprofiler_lock"
WORKDIR_PREFIX = "gprofiler-agent-"


class PreconditionError(Exception):
    """The agent cannot start here; the message says why and what to do."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise PreconditionError("gprofiler must run as root (perf samples every process): use sudo")


def require_init_pid_namespace() -> None:
    try:
        inode = os.stat("/proc/self/ns/pid").st_ino
    except OSError as error:
        raise PreconditionError(f"cannot read /proc/self/ns/pid: {error}") from error
    if inode != INIT_PID_NAMESPACE_INODE:
        raise PreconditionError(
            "gprofiler is not running in the host's PID namespace, so it would miss processes; run the "
            "container with --pid=host (hostPID: true in Kubernetes), or pass --disable-pidns-check"
        )


# Where a container's operator mounts the host's /proc (`-v /proc:/host/proc:ro`), as other agents expect.
HOST_PROC_MOUNT = Path("/host/proc")


def _is_own_procfs(path: Path) -> bool:
    """A procfs of this process's PID namespace: its `self` link names this process."""
    try:
        return os.readlink(path / "self") == str(os.getpid())
    except OSError:
        return False


def resolve_proc_root(explicit: str | None, host_mount: Path = HOST_PROC_MOUNT) -> Path:
    """The /proc the agent discovers processes in: `--proc-root`, else /host/proc when usable, else /proc.

    Only a procfs of the agent's own PID namespace will do: perf and the runtime profilers name
    processes by their PID in that namespace, so a host /proc seen from a container with its own
    PID namespace would pair every sample with the wrong process.
    """
    if explicit:
        root = Path(explicit)
        if not _is_own_procfs(root):
            raise PreconditionError(
                f"--proc-root {explicit} is not the /proc of this agent's PID namespace: mount the host's "
                "/proc there and share the host's PID namespace (docker run --pid=host, hostPID: true)"
            )
        return root
    if _is_own_procfs(host_mount):
        return host_mount
    return Path("/proc")


def acquire_instance_lock(name: str = LOCK_NAME) -> socket.socket:
    """Bind an abstract UNIX socket: the kernel releases it when this process dies, however it dies.

    Keep the returned socket referenced for the life of the agent.
    """
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind("\0" + name)
    except OSError as error:
        lock.close()
        if error.errno == errno.EADDRINUSE:
            raise PreconditionError("another gprofiler is already running on this machine") from error
        raise
    return lock


def disable_core_files() -> None:
    """No core dumps from the agent or any tool it runs (children inherit the limit)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def write_pid_file(path: str) -> None:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        Path(path).write_text(f"{os.getpid()}\n")
    except OSError as error:
        raise PreconditionError(f"cannot write the PID file {path}: {error}") from error


def remove_pid_file(path: str) -> None:
    try:
        if Path(path).read_text().strip() == str(os.getpid()):
            os.unlink(path)
    except OSError:
        pass


def prepare_output_dir(path: Path) -> Path:
    """Create the output directory if needed and prove it is writable now, not after a cycle."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".gprofiler-write-check-"):
            pass
    except OSError as error:
        raise PreconditionError(f"output directory {path} is not writable: {error}") from error
    return path


def remove_stale_workdirs(temp_root: Path) -> int:
    """Delete work directories of earlier agents that were killed before cleaning up.

    Only called while holding the instance lock, so no live agent owns them. Only real directories
    owned by this user are removed; symlinks and anything else are left alone.
    """
    removed = 0
    for entry in temp_root.glob(WORKDIR_PREFIX + "*"):
        try:
            info = entry.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def make_workdir() -> Path:
    """A private (0700) directory for perf's data files, under TMPDIR."""
    return Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
