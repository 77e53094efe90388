"""async-profiler, for users who supply libasyncProfiler.so (`--java-async-profiler-path`).

The library is copied into the JVM's filesystem and loaded through the attach `load` command:
`load <lib> true start,event=cpu,interval=<ns>,file=<out>` (event=itimer when perf events are
unavailable to the JVM), then at the cycle's end `load <lib> true stop,file=<out>,collapsed,ann,dot`,
which writes collapsed stacks with dotted class names and `_[j]`-style annotations. No
async-profiler binary can be obtained on the machines this project is built on, so this path is
tested on text in async-profiler's documented collapsed format, not on its real output.
"""

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from gprofiler.discovery.rootfs import makedirs_in_root, open_in_root, read_in_root, unlink_in_root
from gprofiler.profilers.java.attach import AttachError, JvmTarget, execute
from gprofiler.stacks.model import StackCounts
from gprofiler.stacks.tool_output import parse_tool_output

JAVA_SUFFIX = "_[j]"
_ANNOTATED = ("_[j]", "_[i]", "_[k]", "_[0]", "_[1]")
MAX_OUTPUT_BYTES = 64 << 20


def start_options(event: str, interval_ns: int, output: str) -> str:
    return f"start,event={event},interval={interval_ns},file={output}"


def stop_options(output: str) -> str:
    return f"stop,file={output},collapsed,ann,dot"


def parse_collapsed(text: str, comm: str) -> StackCounts:
    """async-profiler's collapsed output under the process name; unannotated frames become `_[j]`."""
    return parse_tool_output(
        text, comm, lambda name: name if name.endswith(_ANNOTATED) else name + JAVA_SUFFIX
    )


def install_library(target: JvmTarget, library: Path, directory: str) -> str:
    """Copy the library into the JVM's filesystem (its mount namespace); return its path there."""
    makedirs_in_root(target.root, directory, 0o755)
    destination = f"{directory}/libasyncProfiler.so"
    try:
        fd = open_in_root(target.root, destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
    except FileExistsError:
        return destination
    with os.fdopen(fd, "wb") as out, open(library, "rb") as source:
        shutil.copyfileobj(source, out)
    return destination


@dataclass
class ApSession:
    """async-profiler running in one JVM for one cycle."""

    target: JvmTarget
    library: str  # path in the JVM's filesystem
    output: str

    @classmethod
    def start(
        cls, target: JvmTarget, library: str, interval_ns: int, output: str, timeout: float
    ) -> "ApSession":
        try:
            execute(
                target, "load", library, "true", start_options("cpu", interval_ns, output), timeout=timeout
            )
        except AttachError as error:
            if "perf" not in str(error).lower():
                raise
            # perf_events unavailable inside the JVM's container: fall back to setitimer sampling
            execute(
                target, "load", library, "true", start_options("itimer", interval_ns, output), timeout=timeout
            )
        return cls(target, library, output)

    def stop_and_read(self, timeout: float) -> str:
        try:
            execute(self.target, "load", self.library, "true", stop_options(self.output), timeout=timeout)
            return read_in_root(self.target.root, self.output, MAX_OUTPUT_BYTES).decode("utf-8", "replace")
        finally:
            with contextlib.suppress(OSError):
                unlink_in_root(self.target.root, self.output)

    def abandon(self, timeout: float) -> None:
        with contextlib.suppress(Exception):
            execute(self.target, "load", self.library, "true", "stop", timeout=timeout)
        with contextlib.suppress(OSError):
            unlink_in_root(self.target.root, self.output)
