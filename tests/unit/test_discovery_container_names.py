"""Container names: the runtimes' answers, the cache, and what happens when a runtime misbehaves.

`podman_containers_json.json` is podman 4.3's Docker-compatible `GET /containers/json?all=1`,
captured on this machine (see tests/fixtures/README.md). CRI-O and containerd cannot run here:
their parsers are tested on the documented field names only (the README says so).
"""

import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gprofiler.discovery.container_names import (
    ContainerdStateSource,
    ContainerNames,
    DockerApiSource,
    RuntimeUnavailableError,
    containerd_name,
    crio_name,
    default_sources,
    docker_names,
    get_json,
    host_root_of,
    matches,
)
from gprofiler.discovery.containers import ContainerRef

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "containers"
WEB = "6556a1dbbe09cc777ab7e4bafcf47a9394c40f9a0e0b5c5a4229d5a394808987"
K8S = "86e2efceb1fa582061d12eeb0e836dfe5843a07f78225d90355868d0e4366e5a"
K8S_NAME = "k8s_api_shop-7d9f8c-x2x4q_prod_0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b_3"


def test_docker_api_listing_from_podman() -> None:
    names = docker_names(json.loads((FIXTURES / "podman_containers_json.json").read_text()))
    assert names[WEB] == "web-1"
    assert names[K8S] == K8S_NAME
    assert len(names) == 3


def test_docker_api_listing_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(RuntimeUnavailableError):
        docker_names({"message": "page not found"})
    assert docker_names([1, "x", {"Id": 3}, {"Id": "ab", "Names": []}]) == {}


def test_kubernetes_names_have_the_gprofiler_form() -> None:
    crio = {
        "name": "k8s_api_shop-1_prod_uid-1_2",
        "labels": {
            "io.kubernetes.container.name": "api",
            "io.kubernetes.pod.name": "shop-1",
            "io.kubernetes.pod.namespace": "prod",
            "io.kubernetes.pod.uid": "uid-1",
        },
        "annotations": {"io.kubernetes.container.restartCount": "2"},
    }
    assert crio_name(crio) == "k8s_api_shop-1_prod_uid-1_2"
    assert crio_name({"name": "plain", "labels": {}}) == "plain"
    spec = {
        "annotations": {
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": "api",
            "io.kubernetes.cri.sandbox-name": "shop-1",
            "io.kubernetes.cri.sandbox-namespace": "prod",
            "io.kubernetes.cri.sandbox-uid": "uid-1",
        }
    }
    assert containerd_name(spec) == "k8s_api_shop-1_prod_uid-1"
    spec["annotations"]["io.kubernetes.cri.container-type"] = "sandbox"
    assert containerd_name(spec) == "k8s_POD_shop-1_prod_uid-1"
    assert containerd_name({"annotations": {"nerdctl/name": "db"}}) == "db"
    assert containerd_name([]) is None


def test_containerd_state_is_read_by_id_only(tmp_path: Path) -> None:
    task = tmp_path / "k8s.io" / WEB
    task.mkdir(parents=True)
    (task / "config.json").write_text(json.dumps({"annotations": {"nerdctl/name": "db"}}))
    source = ContainerdStateSource(str(tmp_path))
    assert source.names({WEB, K8S}) == {WEB: "db"}
    (task / "config.json").write_text("{not json")
    assert source.names({WEB}) == {}


def test_matching_by_name_or_kubernetes_container_name() -> None:
    assert matches("web-1", ["web-1"])
    assert not matches("web-10", ["web-1"])
    assert matches(K8S_NAME, ["api"])
    assert matches(K8S_NAME, [K8S_NAME])
    assert not matches(K8S_NAME, ["shop-7d9f8c-x2x4q"])
    assert not matches("", ["", "web-1"])


@pytest.fixture
def unix_server(tmp_path: Path) -> Iterator[tuple[str, list[bytes]]]:
    """A UNIX socket that answers each connection with the next canned reply."""
    path = str(tmp_path / "rt.sock")
    replies: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                if replies:
                    connection.sendall(replies.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, replies
    stop.set()
    server.close()


def _http(status: str, body: bytes) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def test_get_json_turns_every_odd_answer_into_one_error(
    unix_server: tuple[str, list[bytes]], tmp_path: Path
) -> None:
    path, replies = unix_server
    replies += [
        _http("200 OK", b'[{"Id": "x"}]'),
        _http("404 Not Found", b"{}"),
        _http("500 Internal Server Error", b"boom"),
        _http("200 OK", b"<html>not json"),
        b"\x00\xffgarbage that is not HTTP\r\n\r\n",
    ]
    assert get_json(path, "/containers/json") == [{"Id": "x"}]
    assert get_json(path, "/containers/abc") is None
    for expected in ("HTTP 500", "did not answer JSON", path):
        with pytest.raises(RuntimeUnavailableError, match=expected):
            get_json(path, "/containers/json")
    with pytest.raises(RuntimeUnavailableError, match="No such file"):
        get_json(str(tmp_path / "missing.sock"), "/containers/json")


def test_a_silent_runtime_times_out(tmp_path: Path) -> None:
    path = str(tmp_path / "silent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()  # accepts (in the kernel's backlog) and never answers
    try:
        with pytest.raises(RuntimeUnavailableError, match="timed out"):
            get_json(path, "/containers/json", timeout=0.3)
    finally:
        server.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_names_are_cached_refreshed_on_a_miss_and_warned_about_once(
    unix_server: tuple[str, list[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    path, replies = unix_server
    listing = json.dumps([{"Id": WEB, "Names": ["/web-1"]}]).encode()
    clock = FakeClock()
    names = ContainerNames([DockerApiSource(path)], refresh_interval=10, failure_backoff=60, clock=clock)
    web, other = ContainerRef(WEB, "docker"), ContainerRef(K8S, "")
    caplog.set_level(logging.INFO, logger="gprofiler.discovery.container_names")

    replies.append(_http("200 OK", listing))
    assert names.names_of([web, other]) == {WEB: "web-1", K8S: ""}
    assert names.name_of(web) == "web-1"  # cached: no request (none is queued)
    assert names.name_of(other) == ""  # a miss, but within the refresh interval: no request

    clock.now = 11
    replies.append(_http("200 OK", b"garbage"))
    assert names.name_of(other) == ""
    clock.now = 30  # in the failure backoff: not asked
    assert names.name_of(other) == ""
    clock.now = 72
    replies.append(_http("503 Service Unavailable", b""))
    assert names.name_of(other) == ""
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "did not answer JSON" in warnings[0].getMessage()

    clock.now = 200
    replies.append(_http("200 OK", json.dumps([{"Id": K8S, "Names": ["/" + K8S_NAME]}]).encode()))
    assert names.name_of(other) == K8S_NAME
    assert any("available again" in r.getMessage() for r in caplog.records)
    assert names.name_of(web) == "web-1"
    names.forget_except({K8S})
    clock.now = 300
    replies.append(_http("200 OK", b"[]"))
    assert names.name_of(web) == ""


def test_no_runtime_at_all_is_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    names = ContainerNames([DockerApiSource(str(tmp_path / "none.sock"))], clock=clock)
    for step in range(5):
        clock.now = step * 1000
        assert names.name_of(ContainerRef(WEB, "docker")) == ""
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no container runtime was found" in warnings[0].getMessage()


def test_the_hosts_root_is_pid_1s_unless_the_agent_shares_its_mount_namespace(tmp_path: Path) -> None:
    (tmp_path / "1" / "ns").mkdir(parents=True)
    (tmp_path / "1" / "ns" / "mnt").symlink_to("/proc/self/ns/mnt")
    assert host_root_of(tmp_path) == "/"
    (tmp_path / "1" / "ns" / "mnt").unlink()
    (tmp_path / "1" / "ns" / "mnt").write_text("another namespace")
    assert host_root_of(tmp_path) == str(tmp_path / "1" / "root")
    assert host_root_of(tmp_path / "nothing") == "/"  # unreadable: assume the agent is on the host


def test_runtimes_are_found_inside_the_hosts_root_through_its_own_symlinks(tmp_path: Path) -> None:
    """In a container the host's files are under /proc/1/root, where `/var/run -> /run` (absolute, as
    Debian has it) must lead to the host's /run: a plain join would follow it to the agent's /run."""
    host = tmp_path / "host"
    (host / "run" / "crio").mkdir(parents=True)
    (host / "var").mkdir()
    (host / "var" / "run").symlink_to("/run")
    task = host / "run" / "containerd" / "io.containerd.runtime.v2.task" / "k8s.io" / WEB
    task.mkdir(parents=True)
    (task / "config.json").write_text(json.dumps({"annotations": {"nerdctl/name": "db"}}))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(host / "run" / "docker.sock"))
    server.listen()
    reply = _http("200 OK", json.dumps([{"Id": K8S, "Names": ["/web-1"]}]).encode())

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        docker, podman, crio, containerd = default_sources(str(host), None)
        assert docker.available() and str(host) in docker.label
        assert not podman.available() and not crio.available()  # /var/run/crio/crio.sock: no socket
        assert docker.names({K8S}) == {K8S: "web-1"}
        assert containerd.available() and containerd.names({WEB}) == {WEB: "db"}
    finally:
        thread.join(timeout=5)
        server.close()
    # a socket given on the command line is a path of the agent's own filesystem
    (explicit,) = default_sources(str(host), str(tmp_path / "mounted.sock"))[:1]
    assert explicit.label.endswith(str(tmp_path / "mounted.sock")) and not explicit.available()
