"""async-profiler in a JVM, driven over the attach socket (no jattach or asprof process).

The library (bundled from Maven Central, or `--java-async-profiler-path`) is copied into the JVM's
filesystem as `/tmp/gprofiler-ap/libasyncProfiler-<sha256 prefix>.so`: the directory is root's and
no one else may write in it, and the name is the same for every agent with the same library, so a
JVM, which can never unload a library, keeps using the copy it has, and a new agent finds it
loaded. A JVM that maps another async-profiler (another tool's, or another version) is not loaded
into: two copies would both install their signal handlers.

Each cycle: `load <lib> true start,event=cpu,interval=<ns>,quiet` (`itimer` where the JVM may not
open perf events; `quiet`, or async-profiler prints "Profiling started" on the application's
stdout), and at its end `load <lib> true stop,file=<out>,collapsed,ann,dot,quiet` into a file the
agent created for it in that directory, owned by the JVM's user; the agent reads and deletes it.
Frames: `_[j]` Java (async-profiler 4 writes interpreted and C1 frames as `_[0]` and `_[1]`, which
become `_[j]` as gProfiler writes them), `_[i]` inlined, `_[k]` kernel, native frames plain.
"""

import contextlib
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from gprofiler.discovery.rootfs import makedirs_in_root, open_in_root, read_in_root, unlink_in_root
from gprofiler.profilers.java.attach import AttachError, JvmTarget, execute
from gprofiler.stacks.model import StackCounts
from gprofiler.stacks.tool_output import parse_tool_output

JAVA_SUFFIX = "_[j]"
_KEPT = ("_[j]", "_[i]", "_[k]")
_TIERS = ("_[0]", "_[1]")  # interpreted, C1-compiled: Java frames
MAX_OUTPUT_BYTES = 64 << 20
DIRECTORY = "/tmp/gprofiler-ap"
_LIBRARY_NAME = re.compile(r"/libasyncProfiler[^/]*\.so$")


class OtherProfilerError(AttachError):
    """The JVM has another async-profiler loaded: not loaded into."""


def start_options(event: str, interval_ns: int, extra: str = "") -> str:
    # quiet: async-profiler would print "Profiling started" to the application's stdout
    return f"start,event={event},interval={interval_ns},quiet" + (f",{extra}" if extra else "")


def stop_options(output: str) -> str:
    return f"stop,file={output},collapsed,ann,dot,quiet"


def _frame_name(name: str) -> str:
    if name.endswith(_KEPT):
        return name
    if name.endswith(_TIERS):
        return name[: -len("_[0]")] + JAVA_SUFFIX
    return name  # native (JVM, JNI, libc): plain, as perf names them


def parse_collapsed(text: str, comm: str) -> StackCounts:
    """async-profiler's collapsed output (`ann`) under the process name."""
    return parse_tool_output(text, comm, _frame_name)


def library_name(library: Path) -> str:
    """The library's name in JVMs: one per content."""
    digest = hashlib.sha256(library.read_bytes()).hexdigest()
    return f"libasyncProfiler-{digest[:16]}.so"


def loaded_library(proc_root: Path, pid: int) -> str | None:
    """The async-profiler library a JVM has mapped, if any (as the JVM sees its path)."""
    with open(proc_root / str(pid) / "maps", "rb") as maps:
        for line in maps.read(64 << 20).decode(errors="replace").split("\n"):
            fields = line.split(None, 5)
            if len(fields) == 6 and _LIBRARY_NAME.search(fields[5]):
                return fields[5].removesuffix(" (deleted)")
    return None


def _require_agents_directory(target: JvmTarget) -> None:
    """/tmp/gprofiler-ap must be root's and writable by no one else: a directory someone else made
    first could have its library replaced under the JVM."""
    fd = open_in_root(target.root, DIRECTORY, os.O_RDONLY | os.O_DIRECTORY)
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise OSError(f"{DIRECTORY} in the JVM's filesystem is not the agent's (owner {info.st_uid})")


def install_library(target: JvmTarget, library: Path, name: str) -> str:
    """The library in the JVM's filesystem (copied there once); its path as the JVM sees it."""
    loaded = loaded_library(target.proc_root, target.pid)
    destination = f"{DIRECTORY}/{name}"
    if loaded is not None and loaded != destination:
        raise OtherProfilerError(f"another async-profiler is loaded in this JVM ({loaded})")
    makedirs_in_root(target.root, DIRECTORY, 0o755)
    _require_agents_directory(target)
    if loaded is not None:
        return destination  # loaded before, by this agent or an earlier one
    temporary = f"{destination}.{os.getpid()}.tmp"
    with contextlib.suppress(OSError):
        unlink_in_root(target.root, temporary)
    fd = open_in_root(target.root, temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as out, open(library, "rb") as source:
        out.write(source.read())
    # rename within the directory: a JVM never sees a half-written library
    directory_fd = open_in_root(target.root, DIRECTORY, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.rename(os.path.basename(temporary), name, src_dir_fd=directory_fd, dst_dir_fd=directory_fd)
    finally:
        os.close(directory_fd)
    return destination


def create_output(target: JvmTarget, path: str) -> None:
    """An empty file the JVM (as its own user) will write the profile into."""
    with contextlib.suppress(OSError):
        unlink_in_root(target.root, path)
    fd = open_in_root(target.root, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchown(fd, target.uid, target.gid)
    finally:
        os.close(fd)


@dataclass
class ApSession:
    """async-profiler running in one JVM for one cycle."""

    target: JvmTarget
    library: str  # path in the JVM's filesystem
    output: str

    @classmethod
    def start(
        cls,
        target: JvmTarget,
        library: str,
        interval_ns: int,
        output: str,
        timeout: float,
        event_mode: str = "auto",
        extra: str = "",
    ) -> "ApSession":
        """Start profiling: `event_mode` cpu, itimer, or auto (cpu, else itimer where the JVM may not
        open perf events: its container's seccomp, perf_event_paranoid)."""

        def load(options: str) -> None:
            execute(target, "load", library, "true", options, timeout=timeout)

        event = "itimer" if event_mode == "itimer" else "cpu"
        try:
            load(start_options(event, interval_ns, extra))
        except AttachError as error:
            message = str(error).lower()
            if "already" in message:
                # left running by an agent that was killed: its data is not this cycle's
                load("stop,quiet")
                load(start_options(event, interval_ns, extra))
            elif event_mode == "auto" and "perf" in message:
                load(start_options("itimer", interval_ns, extra))
            else:
                raise
        return cls(target, library, output)

    def stop_and_read(self, timeout: float) -> str:
        try:
            create_output(self.target, self.output)
            execute(self.target, "load", self.library, "true", stop_options(self.output), timeout=timeout)
            return read_in_root(self.target.root, self.output, MAX_OUTPUT_BYTES).decode("utf-8", "replace")
        finally:
            with contextlib.suppress(OSError):
                unlink_in_root(self.target.root, self.output)

    def abandon(self, timeout: float) -> None:
        with contextlib.suppress(Exception):
            execute(self.target, "load", self.library, "true", "stop,quiet", timeout=timeout)
        with contextlib.suppress(OSError):
            unlink_in_root(self.target.root, self.output)
