"""The one place that starts other programs (perf, later py-spy and friends).

Rules every child follows:
- argv lists only, never a shell;
- its own session (process group), so a Ctrl-C on the agent's terminal reaches the agent only, and
  stopping a child also stops whatever it forked;
- long-lived children (perf record) get PR_SET_PDEATHSIG=SIGKILL, so they die even if the agent is
  SIGKILLed. The signal follows the *thread* that forked, so they are started from the main thread.
  Short-lived ones (perf script, py-spy) skip it: it needs code run in the child, which costs a full
  fork() instead of vfork(), and they end by themselves (duration elapsed, or SIGPIPE);
- stderr is drained continuously (a full pipe would block the child) and its tail kept for errors;
- "binary missing" and "permission denied" become typed errors with the tool's name in them.
"""

import collections
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO, Any

from gprofiler.bundle import child_environment, launch_argv

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_STDERR_TAIL_LINES = 40
_STREAM_BUFFER = 1 << 20


class ToolError(Exception):
    """A child program could not be run or did not succeed."""

    def __init__(self, argv: Sequence[str], message: str) -> None:
        super().__init__(message)
        self.argv = list(argv)


class ToolNotFoundError(ToolError):
    pass


class ToolPermissionError(ToolError):
    pass


class ToolTimeoutError(ToolError):
    pass


class ToolFailedError(ToolError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr_tail: str) -> None:
        name = os.path.basename(argv[0])
        detail = f": {stderr_tail.strip()}" if stderr_tail.strip() else ""
        super().__init__(argv, f"{name} exited with code {returncode}{detail}")
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class StoppedError(Exception):
    """The agent was asked to stop while a child was running; the child has been killed."""


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - every Linux libc has prctl
        return None


_prctl = _load_prctl()


def _make_child_setup(parent_pid: int) -> Any:
    def child_setup() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return child_setup


class ChildProcess:
    """A running child program in its own process group, with stderr drained in the background."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        stdout: int | IO[bytes] | None = subprocess.DEVNULL,
        stdin: int | None = subprocess.DEVNULL,
        env: dict[str, str] | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.argv = [str(arg) for arg in argv]
        self.name = os.path.basename(self.argv[0])
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        try:
            self.popen = subprocess.Popen(
                launch_argv(self.argv),
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.PIPE,
                bufsize=_STREAM_BUFFER,
                start_new_session=True,
                # PDEATHSIG needs code in the child, which forces fork() instead of vfork(): worth it
                # for long-lived children only; short-lived ones end by themselves anyway.
                preexec_fn=_make_child_setup(os.getpid()) if die_with_parent else None,
                env=child_environment(env),
                close_fds=True,
            )
        except FileNotFoundError as error:
            raise ToolNotFoundError(self.argv, f"{self.argv[0]}: not found") from error
        except PermissionError as error:
            raise ToolPermissionError(self.argv, f"{self.argv[0]}: permission denied") from error
        self.pid = self.popen.pid
        self._drain = threading.Thread(target=self._drain_stderr, name=f"{self.name}-stderr", daemon=True)
        self._drain.start()

    def _drain_stderr(self) -> None:
        assert self.popen.stderr is not None
        for raw in self.popen.stderr:
            line = raw.decode("utf-8", "backslashreplace").rstrip()
            if line:
                self._stderr_tail.append(line)
                logger.debug("%s[%d]: %s", self.name, self.pid, line)

    @property
    def stdout(self) -> IO[bytes]:
        assert self.popen.stdout is not None, "started without stdout=PIPE"
        return self.popen.stdout

    def stderr_tail(self) -> str:
        """The last lines the child wrote to stderr (complete once the child has exited)."""
        return "\n".join(self._stderr_tail)

    def poll(self) -> int | None:
        return self.popen.poll()

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def send_signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def _signal_group(self, sig: int) -> None:
        if self.popen.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for exit (raises subprocess.TimeoutExpired) and for stderr to be fully drained."""
        code = self.popen.wait(timeout)
        self._drain.join(timeout=1.0)
        return code

    def stop(self, grace_seconds: float = 2.0, first_signal: int = signal.SIGTERM) -> int:
        """Ask the whole group to exit, kill it after `grace_seconds`, and reap it."""
        self._signal_group(first_signal)
        try:
            return self.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            logger.warning(
                "%s (pid %d) did not exit in %.1fs; killing it", self.name, self.pid, grace_seconds
            )
            self._signal_group(signal.SIGKILL)
            return self.wait()
        finally:
            for stream in (self.popen.stdout, self.popen.stdin):
                if stream is not None:
                    stream.close()

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)

    def __enter__(self) -> "ChildProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.is_running():
            self.stop()
        else:
            self.wait()


@dataclass(frozen=True)
class CompletedRun:
    returncode: int
    stdout: bytes
    stderr: str


class _Watchdog:
    """Kills a child when the agent is stopping or the deadline passes; records which it was."""

    def __init__(self, child: ChildProcess, stop_event: threading.Event | None, timeout: float) -> None:
        self.child = child
        self.stop_event = stop_event
        self.deadline = time.monotonic() + timeout
        self.reason: str | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, name=f"{child.name}-watchdog", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.wait(0.05):
            if self.stop_event is not None and self.stop_event.is_set():
                self.reason = "stopped"
            elif time.monotonic() >= self.deadline:
                self.reason = "timeout"
            else:
                continue
            self.child.kill()
            return

    def finish(self) -> None:
        self.done.set()
        self.thread.join()

    def raise_if_fired(self, timeout: float) -> None:
        if self.reason == "stopped":
            raise StoppedError(f"{self.child.name} interrupted: the agent is stopping")
        if self.reason == "timeout":
            raise ToolTimeoutError(self.child.argv, f"{self.child.name} did not finish within {timeout:g}s")


@contextmanager
def stream_stdout(
    argv: Sequence[str], *, timeout: float, stop_event: threading.Event | None = None
) -> Iterator[IO[bytes]]:
    """Run a program and hand its stdout to the caller as a binary stream, line by line if wished.

    Raises StoppedError, ToolTimeoutError or ToolFailedError after the body, in that order of
    precedence; if the body raises, the child is killed and reaped first.
    """
    child = ChildProcess(argv, stdout=subprocess.PIPE, die_with_parent=False)
    watchdog = _Watchdog(child, stop_event, timeout)
    try:
        yield child.stdout
    except BaseException:
        watchdog.finish()
        child.stop(grace_seconds=0.5, first_signal=signal.SIGKILL)
        raise
    # Closing first means a body that stopped reading early cannot leave the child blocked on a pipe.
    child.stdout.close()
    returncode = child.wait()
    watchdog.finish()
    watchdog.raise_if_fired(timeout)
    if returncode != 0:
        raise ToolFailedError(child.argv, returncode, child.stderr_tail())


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    stop_event: threading.Event | None = None,
    check: bool = True,
) -> CompletedRun:
    """Run a program to completion and return its output; the stop event and timeout kill it."""
    child = ChildProcess(argv, stdout=subprocess.PIPE)
    watchdog = _Watchdog(child, stop_event, timeout)
    try:
        stdout = child.stdout.read()
        returncode = child.wait()
    finally:
        watchdog.finish()
        if child.is_running():
            child.stop(grace_seconds=0.5, first_signal=signal.SIGKILL)
        child.stdout.close()
    watchdog.raise_if_fired(timeout)
    if check and returncode != 0:
        raise ToolFailedError(child.argv, returncode, child.stderr_tail())
    return CompletedRun(returncode, stdout, child.stderr_tail())
