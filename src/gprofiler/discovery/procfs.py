"""Reading one process's facts from procfs: pure parsers plus thin readers.

Every path goes through `proc_root` (normally /proc) so the agent can work from a host /proc
mounted elsewhere. A process may exit at any moment: readers return None instead of raising.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from gprofiler.stacks.escaping import decode_name

_DELETED_SUFFIX = " (deleted)"


@dataclass(frozen=True)
class ProcessInfo:
    """A process as the agent sees it at discovery time."""

    pid: int  # in the agent's PID namespace
    nspid: int  # in the process's own (innermost) PID namespace
    comm: str  # escaped, ready to be a frame
    exe: str  # /proc/PID/exe target, in the process's mount namespace; "" for kernel threads
    cmdline: tuple[str, ...]
    start_time: int  # clock ticks after boot: with the PID, identifies the process over time
    uid: int
    ppid: int = 0
    gid: int = 0

    @property
    def key(self) -> tuple[int, int]:
        """Identity that survives PID reuse."""
        return (self.pid, self.start_time)


def parse_status(text: str) -> dict[str, str]:
    """/proc/PID/status as {field: raw value}."""
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name] = value.strip()
    return fields


def innermost_pid(status: dict[str, str], pid: int) -> int:
    """The last NSpid entry: the PID as the process itself sees it (its own namespace)."""
    values = status.get("NSpid", "").split()
    return int(values[-1]) if values and values[-1].isdigit() else pid


def parse_stat_start_time(stat: str) -> int:
    """Field 22 of /proc/PID/stat (after the parenthesised comm, which may contain anything)."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def parse_cmdline(raw: bytes) -> tuple[str, ...]:
    """NUL-separated arguments (a process that rewrote its title may have just one)."""
    parts = raw.split(b"\0")
    if parts and not parts[-1]:
        parts.pop()
    return tuple(part.decode("utf-8", "backslashreplace") for part in parts)


def parse_mapped_paths(maps: str) -> list[str]:
    """File paths mapped into a process (6th column of /proc/PID/maps), first appearance order."""
    seen: dict[str, None] = {}
    for line in maps.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/"):
            path = parts[5]
            if path.endswith(_DELETED_SUFFIX):
                path = path[: -len(_DELETED_SUFFIX)]
            seen.setdefault(path, None)
    return list(seen)


def list_pids(proc_root: Path) -> list[int]:
    return sorted(int(name) for name in os.listdir(proc_root) if name.isdigit())


def read_process(proc_root: Path, pid: int) -> ProcessInfo | None:
    """Everything discovery needs about one process; None if it has gone."""
    base = proc_root / str(pid)
    try:
        status = parse_status((base / "status").read_text(errors="replace"))
        start_time = parse_stat_start_time((base / "stat").read_text(errors="replace"))
        comm = decode_name((base / "comm").read_bytes().rstrip(b"\n"))
        cmdline = parse_cmdline((base / "cmdline").read_bytes())
    except (OSError, ValueError, IndexError):
        return None
    try:
        exe = os.readlink(base / "exe")
    except OSError:
        exe = ""  # kernel thread, zombie, or gone
    if exe.endswith(_DELETED_SUFFIX):
        exe = exe[: -len(_DELETED_SUFFIX)]
    uid = status.get("Uid", "0").split()
    return ProcessInfo(
        pid=pid,
        nspid=innermost_pid(status, pid),
        comm=comm,
        exe=exe,
        cmdline=cmdline,
        start_time=start_time,
        uid=int(uid[1]) if len(uid) > 1 else 0,  # effective UID
        ppid=int(status.get("PPid", "0") or 0),
        gid=_effective_id(status.get("Gid", "")),
    )


def _effective_id(field: str) -> int:
    """The effective id from a status line "real effective saved filesystem"."""
    values = field.split()
    return int(values[1]) if len(values) > 1 else 0


def read_environ_value(proc_root: Path, pid: int, names: tuple[str, ...]) -> str:
    """Values of some environment variables of a process, joined (empty if unreadable)."""
    try:
        environ = (proc_root / str(pid) / "environ").read_bytes()
    except OSError:
        return ""
    values = []
    for entry in environ.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep and key.decode("utf-8", "replace") in names:
            values.append(value.decode("utf-8", "replace"))
    return " ".join(values)


def read_mapped_paths(proc_root: Path, pid: int) -> list[str]:
    try:
        return parse_mapped_paths((proc_root / str(pid) / "maps").read_text(errors="replace"))
    except OSError:
        return []


def read_cwd(proc_root: Path, pid: int) -> str | None:
    try:
        return os.readlink(proc_root / str(pid) / "cwd")
    except OSError:
        return None


def is_running(proc_root: Path, pid: int, start_time: int | None = None) -> bool:
    """Alive, not a zombie, and (if given) still the same process rather than a reused PID."""
    try:
        stat = (proc_root / str(pid) / "stat").read_text()
    except OSError:
        return False
    state = stat[stat.rindex(")") + 2 :][:1]
    if state in ("Z", "X"):
        return False
    return start_time is None or parse_stat_start_time(stat) == start_time
