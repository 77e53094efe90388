"""Container names from the runtimes that made the containers.

Sources, asked in this order for an ID the cache does not know:
- a Docker Engine API socket (Docker, or podman's Docker-compatible service): one
  `GET /containers/json?all=1` lists every container with its name; Kubernetes containers run by
  dockershim or cri-dockerd are already named `k8s_<container>_<pod>_<namespace>_<uid>_<restarts>`;
- CRI-O's inspect endpoint on its socket (`GET /containers/<id>`), for Kubernetes nodes on CRI-O;
- containerd's task state (`<state>/<namespace>/<id>/config.json`, the container's OCI spec, which
  the CRI plugin annotates with container, pod, namespace and pod UID), for nodes on containerd.
Kubernetes containers get gProfiler's `k8s_<container>_<pod>_<namespace>_<uid>[_<restarts>]` form
whatever the runtime, so a backend can split pod and namespace out of it.

A runtime that cannot be reached gives empty names and one warning (another when it recovers and
fails again), never an exception: profiling goes on without names.
"""

import http.client
import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any, Protocol

from gprofiler.discovery.containers import ContainerRef
from gprofiler.discovery.rootfs import listdir_in_root, open_in_root, read_in_root, socket_address_in_root

logger = logging.getLogger(__name__)

DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/podman/podman.sock")
CRIO_SOCKET = "/var/run/crio/crio.sock"
CONTAINERD_STATE = "/run/containerd/io.containerd.runtime.v2.task"
REQUEST_TIMEOUT_S = 2.0
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
MAX_SPEC_BYTES = 4 * 1024 * 1024
# A miss asks the runtimes again at most this often (a process in a container no runtime knows
# would otherwise cost a request per cycle); after a failure, wait longer.
REFRESH_INTERVAL_S = 10.0
FAILURE_BACKOFF_S = 60.0
_ID = re.compile(r"^[0-9a-f]{64}$")


class RuntimeUnavailableError(Exception):
    """The runtime could not be asked, or answered something that is not what it should."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, root: str, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.root = root
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            with socket_address_in_root(self.root, self.socket_path) as address:
                sock.connect(address)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def get_json(socket_path: str, url: str, timeout: float = REQUEST_TIMEOUT_S, root: str = "/") -> Any:
    """GET `url` over the HTTP UNIX socket at `socket_path` inside `root`; None for 404;
    RuntimeUnavailableError for anything odd."""
    connection = _UnixHTTPConnection(root, socket_path, timeout)
    try:
        connection.request("GET", url, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(MAX_RESPONSE_BYTES + 1)
    except (OSError, http.client.HTTPException) as error:
        raise RuntimeUnavailableError(f"{socket_path}: {error or type(error).__name__}") from error
    finally:
        connection.close()
    if response.status == 404:
        return None
    if response.status != 200:
        raise RuntimeUnavailableError(f"{socket_path}: GET {url} answered HTTP {response.status}")
    if len(body) > MAX_RESPONSE_BYTES:
        raise RuntimeUnavailableError(
            f"{socket_path}: GET {url} answered more than {MAX_RESPONSE_BYTES} bytes"
        )
    try:
        return json.loads(body)
    except ValueError as error:
        raise RuntimeUnavailableError(f"{socket_path}: GET {url} did not answer JSON") from error


def k8s_name(container: str, pod: str, namespace: str, uid: str, restarts: str | None) -> str:
    """gProfiler's (and dockershim's) name of a Kubernetes container."""
    fields = ["k8s", container, pod, namespace, uid] + ([restarts] if restarts is not None else [])
    return "_".join(fields)


def k8s_fields(name: str) -> tuple[str, str, str] | None:
    """(container, pod, namespace) of a name in that form; None for any other name."""
    fields = name.split("_")
    if len(fields) >= 5 and fields[0] == "k8s":
        return fields[1], fields[2], fields[3]
    return None


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def docker_names(listing: Any) -> dict[str, str]:
    """{id: name} from a Docker Engine API container list (`Names` are `/name`)."""
    if not isinstance(listing, list):
        raise RuntimeUnavailableError("the container list is not a JSON list")
    names = {}
    for entry in listing:
        if not isinstance(entry, dict):
            continue
        container_id, entry_names = entry.get("Id"), entry.get("Names")
        if not isinstance(container_id, str) or not isinstance(entry_names, list) or not entry_names:
            continue
        first = entry_names[0]
        if isinstance(first, str):
            names[container_id.lower()] = first.lstrip("/")
    return names


def crio_name(info: Any) -> str | None:
    """A container's name from CRI-O's inspect answer (its labels give the Kubernetes form)."""
    if not isinstance(info, dict):
        raise RuntimeUnavailableError("CRI-O's container info is not a JSON object")
    labels, annotations = _strings(info.get("labels")), _strings(info.get("annotations"))
    container, pod = labels.get("io.kubernetes.container.name"), labels.get("io.kubernetes.pod.name")
    namespace = labels.get("io.kubernetes.pod.namespace")
    if container and pod and namespace:
        return k8s_name(
            container,
            pod,
            namespace,
            labels.get("io.kubernetes.pod.uid", ""),
            annotations.get("io.kubernetes.container.restartCount"),
        )
    name = info.get("name")
    return name if isinstance(name, str) else None


def containerd_name(spec: Any) -> str | None:
    """A container's name from the annotations containerd's CRI plugin (or nerdctl) puts in its OCI spec.

    The restart count is not among them, so the Kubernetes form has five fields here.
    """
    annotations = _strings(spec.get("annotations")) if isinstance(spec, dict) else {}
    cri = "io.kubernetes.cri."
    pod, namespace = annotations.get(cri + "sandbox-name", ""), annotations.get(cri + "sandbox-namespace", "")
    uid = annotations.get(cri + "sandbox-uid", "")
    if annotations.get(cri + "container-type") == "sandbox":
        return k8s_name("POD", pod, namespace, uid, None)  # the pod's pause container
    if cri + "container-name" in annotations:
        return k8s_name(annotations[cri + "container-name"], pod, namespace, uid, None)
    return annotations.get("nerdctl/name")


class NameSource(Protocol):
    label: str

    def available(self) -> bool:
        """Whether the runtime is installed here at all (its socket or state directory exists)."""

    def names(self, wanted: set[str]) -> dict[str, str]:
        """Names of as many of `wanted` as this runtime knows; RuntimeUnavailableError if unreachable."""


def _where(path: str, root: str) -> str:
    return path if root == "/" else f"{path} under {root}"


class _SocketSource:
    """A runtime answering HTTP on a UNIX socket at `socket_path` inside `root`; present when the
    socket is."""

    kind = ""

    def __init__(self, socket_path: str, root: str = "/") -> None:
        self.socket_path = socket_path
        self.root = root
        self.label = f"{self.kind} at {_where(socket_path, root)}"

    def available(self) -> bool:
        try:
            with socket_address_in_root(self.root, self.socket_path):
                return True
        except OSError:
            return False

    def get_json(self, url: str) -> Any:
        return get_json(self.socket_path, url, root=self.root)


class DockerApiSource(_SocketSource):
    """Docker or podman, through the Docker Engine API."""

    kind = "Docker API"

    def names(self, wanted: set[str]) -> dict[str, str]:
        return docker_names(self.get_json("/containers/json?all=1"))


class CrioSource(_SocketSource):
    kind = "CRI-O"

    def names(self, wanted: set[str]) -> dict[str, str]:
        found = {}
        for container_id in sorted(wanted):
            name = crio_name(self.get_json(f"/containers/{container_id}") or {})
            if name:
                found[container_id] = name
        return found


class ContainerdStateSource:
    """containerd's per-task OCI specs, `<state>/<namespace>/<id>/config.json`, inside `root`."""

    def __init__(self, state_dir: str, root: str = "/") -> None:
        self.state_dir = state_dir
        self.root = root
        self.label = f"containerd state in {_where(state_dir, root)}"

    def available(self) -> bool:
        try:
            os.close(open_in_root(self.root, self.state_dir, os.O_RDONLY | os.O_DIRECTORY))
        except OSError:
            return False
        return True

    def names(self, wanted: set[str]) -> dict[str, str]:
        try:
            namespaces = sorted(listdir_in_root(self.root, self.state_dir))
        except OSError as error:
            raise RuntimeUnavailableError(f"{self.label}: {error}") from error
        found = {}
        for container_id in sorted(wanted):
            if not _ID.match(container_id):  # IDs come from cgroup paths, already checked: no traversal
                continue
            for namespace in namespaces:
                spec = self._spec(f"{self.state_dir}/{namespace}/{container_id}/config.json")
                name = containerd_name(spec) if spec is not None else None
                if name:
                    found[container_id] = name
                    break
        return found

    def _spec(self, path: str) -> Any:
        try:
            raw = read_in_root(self.root, path, MAX_SPEC_BYTES + 1)
        except OSError:
            return None  # not a namespace directory, no such task, or not a regular file
        if len(raw) > MAX_SPEC_BYTES:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None


def host_root_of(proc_root: Path) -> str:
    """Where the host's files are: `/` when the agent shares PID 1's mount namespace, else PID 1's root.

    Inside a container with the host's PIDs, PID 1 is the host's init, so `<proc>/1/root` is the
    host's `/` (the host's own files, which the agent trusts; containers' files never are).
    """
    try:
        if os.stat(proc_root / "1" / "ns" / "mnt").st_ino == os.stat("/proc/self/ns/mnt").st_ino:
            return "/"
    except OSError:
        return "/"
    return str(proc_root / "1" / "root")


def default_sources(host_root: str, docker_socket: str | None) -> list[NameSource]:
    """Every runtime location, inside the host's root (`/` on the host, `/proc/1/root` in a container).

    Paths are resolved within that root (`/var/run` is often a symlink to `/run`, which must lead to
    the host's `/run`, not the agent's). An explicit `docker_socket` is a path in the agent's own
    filesystem (a socket mounted in).
    """
    dockers = (
        [DockerApiSource(docker_socket)]
        if docker_socket
        else [DockerApiSource(path, host_root) for path in DOCKER_SOCKETS]
    )
    return [
        *dockers,
        CrioSource(CRIO_SOCKET, host_root),
        ContainerdStateSource(CONTAINERD_STATE, host_root),
    ]


class ContainerNames:
    """Names by container ID, refreshed from the runtimes when a process's container is unknown."""

    def __init__(
        self,
        sources: Iterable[NameSource],
        *,
        refresh_interval: float = REFRESH_INTERVAL_S,
        failure_backoff: float = FAILURE_BACKOFF_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = list(sources)
        self.refresh_interval = refresh_interval
        self.failure_backoff = failure_backoff
        self.clock = clock
        self._names: dict[str, str] = {}
        self._next_refresh = float("-inf")
        self._failing: set[str] = set()  # labels of sources whose failure was already warned about
        self._warned_none = False

    def names_of(self, refs: Iterable[ContainerRef]) -> dict[str, str]:
        """{container id: name} for these containers ("" when no runtime knows the container)."""
        ids = {ref.id for ref in refs}
        missing = ids - self._names.keys()
        if missing and self.clock() >= self._next_refresh:
            self._refresh(missing)
        return {container_id: self._names.get(container_id, "") for container_id in ids}

    def name_of(self, ref: ContainerRef) -> str:
        return self.names_of([ref])[ref.id]

    def _refresh(self, missing: set[str]) -> None:
        present = [source for source in self.sources if source.available()]
        if not present:
            if not self._warned_none:
                logger.warning(
                    "processes run in containers but no container runtime was found (%s): container "
                    "names will be empty",
                    ", ".join(source.label for source in self.sources) or "none configured",
                )
                self._warned_none = True
            self._next_refresh = self.clock() + self.failure_backoff
            return
        failed = False
        wanted = set(missing)
        for source in present:
            if not wanted:
                break
            try:
                found = source.names(wanted)
            except RuntimeUnavailableError as error:
                failed = True
                if source.label not in self._failing:
                    logger.warning("container names unavailable from %s: %s", source.label, error)
                    self._failing.add(source.label)
                else:
                    logger.debug("container names still unavailable from %s: %s", source.label, error)
                continue
            if source.label in self._failing:
                logger.info("container names available again from %s", source.label)
                self._failing.discard(source.label)
            self._names.update(found)
            wanted -= found.keys()
        self._next_refresh = self.clock() + (self.failure_backoff if failed else self.refresh_interval)

    def forget_except(self, live_ids: Collection[str]) -> None:
        """Drop names of containers no process is in any more (keeps the cache bounded)."""
        self._names = {key: value for key, value in self._names.items() if key in live_ids}


def matches(name: str, wanted: Iterable[str]) -> bool:
    """Whether a container name is one of `wanted`: the whole name, or a Kubernetes container's own name."""
    if not name:
        return False
    fields = k8s_fields(name)
    own = fields[0] if fields else None
    return any(want in (name, own) for want in wanted)
