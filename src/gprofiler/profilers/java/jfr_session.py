"""One JFR recording per JVM and cycle, driven through the attach socket.

Start: a `.jfc` settings file (execution samples, native method samples, nothing else) is put in the
JVM's /tmp, then `JFR.start name=... settings=... duration=<cycle + grace>s filename=/tmp/...jfr`.
The duration makes the recording stop by itself even if the agent dies. End: `JFR.stop name=...`
makes the JVM write the file (as the JVM's user, in its own /tmp); the agent reads it through
/proc/PID/root, deletes it, and parses it with `stacks.jfr`.
"""

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from gprofiler.discovery.rootfs import open_in_root, read_in_root, unlink_in_root
from gprofiler.profilers.java.attach import JvmTarget, jcmd

# JFR is in OpenJDK 11+, and in 8 from update 262.
_JDK_VERSION = re.compile(r"^JDK (\d+)(?:\.(\d+))?(?:\.(\d+))?(?:_(\d+))?", re.MULTILINE)
MAX_RECORDING_BYTES = 256 << 20


def jfc_settings(period_ms: int) -> str:
    """A JFR settings file that enables only the two sampling events, at this period."""
    events = "\n".join(
        f'  <event name="{name}"><setting name="enabled">true</setting>'
        f'<setting name="period">{period_ms} ms</setting></event>'
        for name in ("jdk.ExecutionSample", "jdk.NativeMethodSample")
    )
    header = '<?xml version="1.0" encoding="UTF-8"?>\n<configuration version="2.0" label="gprofiler">'
    return f"{header}\n{events}\n</configuration>\n"


def period_ms(frequency: int) -> int:
    return max(10, round(1000 / frequency))


def parse_jdk_version(vm_version: str) -> tuple[int, int] | None:
    """(major, update) from VM.version's "JDK 17.0.15" or "JDK 8.0_262"; None if not found."""
    match = _JDK_VERSION.search(vm_version)
    if match is None:
        return None
    major = int(match.group(1))
    update = int(match.group(4) or match.group(3) or 0)
    return major, update


def jfr_supported(version: tuple[int, int]) -> bool:
    major, update = version
    return major >= 11 or (major == 8 and update >= 262)


def start_command(name: str, settings: str, duration_s: int, filename: str) -> str:
    return f"JFR.start name={name} settings={settings} duration={duration_s}s filename={filename}"


def shares_our_mount_namespace(target: JvmTarget) -> bool:
    try:
        theirs = os.stat(target.proc_root / str(target.pid) / "ns" / "mnt").st_ino
        return theirs == os.stat("/proc/self/ns/mnt").st_ino
    except OSError:
        return False


def remove_file(target: JvmTarget, path: str, host_visible: bool) -> None:
    """Delete a file in the JVM's filesystem; if the JVM is gone but shared our mount namespace,
    delete it by its host path (a JVM that exits writes its recording as it goes)."""
    try:
        unlink_in_root(target.root, path)
        return
    except OSError:
        pass
    if host_visible:
        with contextlib.suppress(OSError):
            os.unlink(path)  # unlinks a symlink itself, never its target


@dataclass
class JfrRecording:
    """A recording started in one JVM for one cycle."""

    target: JvmTarget
    name: str
    filename: str  # in the JVM's filesystem
    host_visible: bool = False  # the JVM shares the agent's mount namespace

    def stop_and_read(self, timeout: float) -> bytes:
        """Stop the recording (the JVM writes the file), read it and delete it."""
        try:
            jcmd(self.target, f"JFR.stop name={self.name}", timeout=timeout)
            return read_in_root(self.target.root, self.filename, MAX_RECORDING_BYTES)
        finally:
            self.discard_file()

    def abandon(self, timeout: float) -> None:
        """Stop without keeping anything (the agent is stopping)."""
        with contextlib.suppress(Exception):
            jcmd(self.target, f"JFR.stop name={self.name}", timeout=timeout)
        self.discard_file()

    def discard_file(self) -> None:
        remove_file(self.target, self.filename, self.host_visible)


def install_settings(target: JvmTarget, path: str, content: str) -> None:
    """Write the .jfc into the JVM's /tmp, readable by its user; replaced if it already exists."""
    with contextlib.suppress(OSError):
        unlink_in_root(target.root, path)
    fd = open_in_root(target.root, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with open(fd, "w", closefd=True) as out:
        out.write(content)


def start_recording(
    target: JvmTarget, prefix: str, cycle: int, frequency: int, duration_s: int, timeout: float
) -> JfrRecording:
    host_visible = shares_our_mount_namespace(target)
    # Host PIDs in the names: JVMs in different PID namespaces may share a /tmp and an nspid.
    settings = f"/tmp/{prefix}-{target.pid}.jfc"
    install_settings(target, settings, jfc_settings(period_ms(frequency)))
    name = f"{prefix}-{cycle}"
    filename = f"/tmp/{prefix}-{target.pid}-{cycle}.jfr"
    try:
        jcmd(target, start_command(name, settings, duration_s, filename), timeout=timeout)
    except BaseException:
        remove_file(target, filename, host_visible)
        raise
    finally:
        remove_file(target, settings, host_visible)  # read by JFR.start; no longer needed
    return JfrRecording(target, name, filename, host_visible)


_OUTPUT_NAME = re.compile(r"gprofiler-(\d+)-\d+(?:-\d+)?\.(?:jfr|jfc|collapsed)")


def remove_stale_outputs(directory: Path, own_pid: int) -> int:
    """Delete the recording files (`gprofiler-<agent pid>-<jvm pid>-<cycle>.jfr`, `.collapsed`, and
    the settings `gprofiler-<agent pid>-<jvm pid>.jfc`) of earlier agents in a JVM-side /tmp: a
    recording whose stop failed (a JVM too starved to answer) ends by its duration later and writes
    its file when no agent waits for it. Only one agent runs at a time, so another agent's PID in the
    name means a dead agent. Regular files only; links are left alone."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        match = _OUTPUT_NAME.fullmatch(entry.name)
        if match is None or int(match.group(1)) == own_pid:
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
    return removed
