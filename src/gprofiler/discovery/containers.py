"""Which container a process belongs to, from the cgroup paths in /proc/PID/cgroup.

Every container runtime puts a container's processes in a cgroup whose last component carries
the container's 64-hex-digit ID, with a runtime-specific spelling:

    cgroup v1, cgroupfs driver     /docker/<id>, /libpod_parent/libpod-<id>,
                                   /kubepods/<qos>/pod<uid>/<id>
    systemd driver (v1 or v2)      /system.slice/docker-<id>.scope, /machine.slice/libpod-<id>.scope,
                                   /kubepods.slice/.../kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope
                                   (or crio-<id>.scope)

The deepest component that is an ID wins (a container started inside another one is the inner
one). Monitor processes (`libpod-conmon-<id>`, `crio-conmon-<id>`) are not in the container. A
Kubernetes pod's UID is taken from its `pod<uid>` component (systemd writes its dashes as `_`).
"""

import re
from dataclasses import dataclass
from pathlib import Path

# The runtime each scope prefix belongs to; a bare ID (cgroupfs driver) is named by its parent.
_PREFIX_RUNTIME = {"docker": "docker", "cri-containerd": "containerd", "crio": "cri-o", "libpod": "podman"}
_PARENT_RUNTIME = {"docker": "docker", "libpod_parent": "podman"}
_ID_COMPONENT = re.compile(r"^(?:(docker|cri-containerd|crio|libpod)-)?([0-9a-f]{64})(?:\.scope)?$")
_POD_COMPONENT = re.compile(r"^(?:kubepods-(?:[a-z]+-)?)?pod([0-9a-f_-]{36})(?:\.slice)?$")
# /proc/PID/cgroup is a few hundred bytes; anything far larger is not what the kernel writes.
_MAX_CGROUP_BYTES = 64 * 1024


@dataclass(frozen=True)
class ContainerRef:
    """A process's container as its cgroup path tells it."""

    id: str  # 64 lowercase hex digits
    runtime: str  # docker, containerd, cri-o, podman, or "" when the path does not say
    pod_uid: str = ""  # a Kubernetes pod's UID, with dashes


def container_from_path(path: str) -> ContainerRef | None:
    """The container of one cgroup path, or None for a path outside any container."""
    parts = [part for part in path.split("/") if part]
    for depth in range(len(parts) - 1, -1, -1):
        match = _ID_COMPONENT.match(parts[depth])
        if match is None:
            continue
        prefix, container_id = match.groups()
        parent = parts[depth - 1] if depth else ""
        runtime = _PREFIX_RUNTIME[prefix] if prefix else _PARENT_RUNTIME.get(parent, "")
        pod_uid = ""
        for part in parts[:depth]:
            pod = _POD_COMPONENT.match(part)
            if pod:
                pod_uid = pod.group(1).replace("_", "-")
        return ContainerRef(container_id, runtime, pod_uid)
    return None


def container_from_cgroup(text: str) -> ContainerRef | None:
    """The container of a process from its /proc/PID/cgroup text (v1, v2 or both).

    The v2 line (`0::path`) is read first; on hybrid hosts the v1 lines follow in the kernel's order.
    """
    lines = text.split("\n")  # not splitlines(): a cgroup's name may hold U+2028, \x1c...
    ordered = [line for line in lines if line.startswith("0::")] + [
        line for line in lines if not line.startswith("0::")
    ]
    for line in ordered:
        path = line.split(":", 2)[-1]
        found = container_from_path(path)
        if found is not None:
            return found
    return None


def read_container(proc_root: Path, pid: int) -> ContainerRef | None:
    """The container of a live process; None outside containers or when the process is gone."""
    try:
        with open(proc_root / str(pid) / "cgroup", "rb") as file:
            raw = file.read(_MAX_CGROUP_BYTES)
    except OSError:
        return None
    return container_from_cgroup(raw.decode("utf-8", "replace"))
