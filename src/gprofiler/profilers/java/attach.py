"""HotSpot's dynamic attach mechanism, spoken from Python (no jcmd or jattach needed).

The JVM listens on a UNIX socket `/tmp/.java_pid<nspid>` (in its own mount namespace) once asked
to: the client creates a trigger file `.attach_pid<nspid>` in the JVM's working directory (or
/tmp) and sends SIGQUIT. A request is `1\\0<command>\\0<arg1>\\0<arg2>\\0<arg3>\\0`; the reply is
the return code on the first line, then text, and the JVM closes the connection.

Safety as root next to untrusted containers:
- every path inside the target is resolved within /proc/PID/root (`discovery.rootfs`), and the
  socket is connected through an O_PATH descriptor (`/proc/self/fd/N`), never by following a path
  the container controls;
- the trigger file is created owned by the JVM's user, and the connection is made with the JVM's
  uid/gid (per-thread credentials via raw setresgid/setresuid in a short-lived thread), which is what
  HotSpot checks on both.
"""

import contextlib
import ctypes
import logging
import os
import signal
import socket
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from gprofiler.discovery.rootfs import open_in_root, unlink_in_root

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = "1"
_MAX_REPLY = 8 << 20
_SYS_SETRESUID = 117  # x86_64
_SYS_SETRESGID = 119
_SYSCALLS = {"aarch64": (147, 149)}  # setresuid, setresgid


class AttachError(Exception):
    """The JVM could not be attached to, or refused the command."""


class StaleSocketError(AttachError):
    """The socket file at the attach path refuses connections: nobody listens on it any more."""


@dataclass(frozen=True)
class JvmTarget:
    """Where a JVM lives, seen from the agent."""

    pid: int  # in the agent's namespace
    nspid: int  # in the JVM's own PID namespace
    uid: int
    gid: int
    proc_root: Path = Path("/proc")

    @property
    def root(self) -> Path:
        return self.proc_root / str(self.pid) / "root"

    @property
    def socket_path(self) -> str:
        return f"/tmp/.java_pid{self.nspid}"


def _thread_credentials_syscalls() -> tuple[int, int]:
    machine = os.uname().machine
    return _SYSCALLS.get(machine, (_SYS_SETRESUID, _SYS_SETRESGID))


def _connect_as(target: JvmTarget, timeout: float) -> socket.socket:
    """Connect to the JVM's socket, with the JVM's uid/gid if they are not ours."""
    fd = open_in_root(target.root, target.socket_path, getattr(os, "O_PATH", 0))
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise AttachError(f"{target.socket_path} in pid {target.pid} is not a socket")
        address = f"/proc/self/fd/{fd}"
        if (target.uid, target.gid) == (os.geteuid(), os.getegid()):
            try:
                return _connect(address, timeout)
            except ConnectionRefusedError as error:
                raise StaleSocketError(
                    f"the attach socket of pid {target.pid} refuses connections"
                ) from error
        outcome: dict[str, object] = {}

        def connect_with_target_credentials() -> None:
            # Raw syscalls change only this thread's credentials (glibc's wrappers would change
            # every thread); the thread ends right after, taking them with it.
            libc = ctypes.CDLL(None, use_errno=True)
            setresuid, setresgid = _thread_credentials_syscalls()
            if libc.syscall(setresgid, -1, target.gid, -1) or libc.syscall(setresuid, -1, target.uid, -1):
                outcome["error"] = OSError(ctypes.get_errno(), "cannot take the JVM's credentials")
                return
            try:
                outcome["socket"] = _connect(address, timeout)
            except OSError as error:
                outcome["error"] = error

        thread = threading.Thread(target=connect_with_target_credentials, name=f"attach-{target.pid}")
        thread.start()
        thread.join()
        if "socket" in outcome:
            connected = outcome["socket"]
            assert isinstance(connected, socket.socket)
            return connected
        if isinstance(outcome.get("error"), ConnectionRefusedError):
            raise StaleSocketError(f"the attach socket of pid {target.pid} refuses connections")
        raise AttachError(f"cannot connect to the attach socket of pid {target.pid}: {outcome.get('error')}")
    finally:
        os.close(fd)


def _connect(address: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def _socket_identity(target: JvmTarget) -> tuple[int, int, int] | None:
    """(inode, owner, change time) of the JVM's attach socket file; None if there is no socket."""
    try:
        fd = open_in_root(target.root, target.socket_path, getattr(os, "O_PATH", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        return (info.st_ino, info.st_uid, info.st_ctime_ns) if stat.S_ISSOCK(info.st_mode) else None
    finally:
        os.close(fd)


def _create_trigger(target: JvmTarget) -> str:
    """`.attach_pid<nspid>` in the JVM's working directory if writable, else /tmp; owned by the JVM."""
    try:
        cwd = os.readlink(target.proc_root / str(target.pid) / "cwd")
    except OSError:
        cwd = "/tmp"
    for directory in dict.fromkeys((cwd, "/tmp")):
        path = f"{directory.rstrip('/')}/.attach_pid{target.nspid}"
        try:
            fd = open_in_root(target.root, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError:
            continue
        try:
            os.fchown(fd, target.uid, target.gid)
        finally:
            os.close(fd)
        return path
    raise AttachError(f"cannot create the attach trigger file for pid {target.pid}")


def _is_listening(target: JvmTarget) -> bool:
    """Whether anything accepts connections on the attach path (probed as root, whoever owns it)."""
    fd = open_in_root(target.root, target.socket_path, getattr(os, "O_PATH", 0))
    try:
        with _connect(f"/proc/self/fd/{fd}", 1.0):
            return True
    except ConnectionRefusedError:
        return False
    finally:
        os.close(fd)


def _clear_stale_socket(target: JvmTarget) -> None:
    """Remove a socket file nobody listens on any more, left by an earlier process with the same PID.

    Stale sockets come from JVMs killed before they could clean up, met again through PID reuse or a
    /tmp shared between PID namespaces. The JVM cannot replace one owned by another user itself
    (/tmp is sticky), so it would never open its socket.
    """
    if _is_listening(target):
        raise AttachError(
            f"{target.socket_path} in pid {target.pid}'s filesystem belongs to another live process "
            "(a /tmp shared between PID namespaces?)"
        )
    unlink_in_root(target.root, target.socket_path)
    logger.info("removed the stale attach socket %s of pid %d", target.socket_path, target.pid)


def ensure_listening(
    target: JvmTarget, timeout: float, cancel: threading.Event | None = None, *, stale: bool = False
) -> None:
    """Make the JVM open its attach socket (trigger file + SIGQUIT) unless it already has.

    A socket file owned by another user than the JVM's, or one known to refuse connections
    (`stale`), is not the JVM's: it is cleared first.
    """
    found = _socket_identity(target)
    if found is not None and found[1] == target.uid and not stale:
        return
    if found is not None:
        _clear_stale_socket(target)
    trigger = _create_trigger(target)
    try:
        os.kill(target.pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout
        while _socket_identity(target) is None:
            if time.monotonic() > deadline:
                raise AttachError(f"pid {target.pid} did not open its attach socket within {timeout:g}s")
            if cancel is not None and cancel.wait(0.05):
                raise AttachError("attach cancelled: the agent is stopping")
            if cancel is None:
                time.sleep(0.05)
    finally:
        with contextlib.suppress(OSError):
            unlink_in_root(target.root, trigger)


def encode_request(command: str, *args: str) -> bytes:
    """The attach request: protocol version, command and exactly three arguments, NUL-terminated."""
    if len(args) > 3:
        raise ValueError("the attach protocol takes at most three arguments")
    parts = [PROTOCOL_VERSION, command, *args, *([""] * (3 - len(args)))]
    return b"".join(part.encode() + b"\0" for part in parts)


def parse_reply(reply: bytes) -> tuple[int, str]:
    """(return code, text) from the JVM's reply."""
    if not reply:
        raise AttachError("no reply: the JVM closed the connection")
    text = reply.decode("utf-8", "replace")
    code_line, _, body = text.partition("\n")
    code = code_line.strip()
    digits = code[1:] if code.startswith("-") else code
    if not digits.isascii() or not digits.isdigit():
        raise AttachError(f"unexpected attach reply: {text[:200]!r}")
    return int(code), body


def execute(target: JvmTarget, command: str, *args: str, timeout: float = 30.0) -> str:
    """Run one attach command (e.g. "jcmd", "VM.version") and return its output; AttachError if it fails."""
    ensure_listening(target, timeout)
    try:
        connection = _connect_as(target, timeout)
    except StaleSocketError:
        ensure_listening(target, timeout, stale=True)
        connection = _connect_as(target, timeout)
    with connection as sock:
        sock.sendall(encode_request(command, *args))
        chunks, size = [], 0
        while size < _MAX_REPLY:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    code, body = parse_reply(b"".join(chunks))
    if code != 0:
        raise AttachError(
            f"{command} {' '.join(args)} failed in pid {target.pid} (code {code}): {body.strip()[:300]}"
        )
    return body


def jcmd(target: JvmTarget, line: str, timeout: float = 30.0) -> str:
    """A diagnostic command, as `jcmd <pid> <line>` would run it."""
    return execute(target, "jcmd", line, timeout=timeout)
