"""What the profile header says about this machine: parsed from /proc and /etc by pure functions."""

import os
import platform
import socket
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gprofiler import __version__


def parse_os_release(text: str) -> dict[str, str]:
    """`KEY="value"` lines of /etc/os-release into a dict (quotes removed)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        fields[key] = value
    return fields


def parse_cpu_model(cpuinfo: str) -> str:
    """The first `model name` (x86) or `Model`/`CPU part` style line of /proc/cpuinfo."""
    for key in ("model name", "Model", "cpu model", "Hardware"):
        for line in cpuinfo.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return "unknown"


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo into kB values by field name."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and parts and parts[0].isdigit():
            values[name.strip()] = int(parts[0])
    return values


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _run_mode() -> str:
    if os.environ.get("GPROFILER_IN_K8S") is not None:
        return "k8s"
    if os.environ.get("GPROFILER_IN_CONTAINER") is not None:
        return "container"
    return "local_python"


def kubernetes_metadata(environ: Mapping[str, str]) -> dict[str, Any]:
    """The node's name when the agent runs in a Kubernetes pod (the DaemonSet passes NODE_NAME)."""
    if "KUBERNETES_SERVICE_HOST" not in environ or not environ.get("NODE_NAME"):
        return {}
    return {"k8s_node_name": environ["NODE_NAME"]}


def static_metadata(run_arguments: dict[str, Any], spawn_time: float, proc_root: Path) -> dict[str, Any]:
    """Facts that do not change while the agent runs, gathered once at start."""
    os_release = parse_os_release(_read(Path("/etc/os-release")))
    meminfo = parse_meminfo(_read(proc_root / "meminfo"))
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "agent_version": __version__,
        "spawn_time": datetime.fromtimestamp(spawn_time, timezone.utc).replace(microsecond=0).isoformat(),
        "run_arguments": run_arguments,
        "run_mode": _run_mode(),
        "python_version": sys.version.split()[0],
        "kernel_release": uname.release,
        "kernel_version": uname.version,
        "system_name": uname.system,
        "hardware_type": uname.machine,
        "processors": os.cpu_count() or 0,
        "cpu_model": parse_cpu_model(_read(proc_root / "cpuinfo")),
        "memory_capacity_mb": round(meminfo.get("MemTotal", 0) / 1024),
        "os_name": os_release.get("NAME", "unknown"),
        "os_release": os_release.get("VERSION_ID", "unknown"),
        "os_codename": os_release.get("VERSION_CODENAME", "unknown"),
        "pid": os.getpid(),
        **kubernetes_metadata(os.environ),
    }


def current_metadata(static: dict[str, Any], profiling_mode: str) -> dict[str, Any]:
    """The static facts plus what changes per cycle."""
    return {
        **static,
        "current_time": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "spawn_uptime_ms": round(time.monotonic() * 1000),
        "profiling_mode": profiling_mode,
    }
