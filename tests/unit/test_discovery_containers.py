"""Container IDs from /proc/PID/cgroup as the kernel wrote it for each runtime's layout.

The fixtures were captured on this machine (tests/fixtures/cgroup/capture.py) with a process moved
into cgroups at each runtime's paths, on cgroup v1 hierarchies and on cgroup v2.
"""

import hashlib
import os
from pathlib import Path

import pytest

from gprofiler.discovery.containers import container_from_cgroup, container_from_path, read_container

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cgroup"
POD_UID = "dcc0caa9-7588-ee05-8c2f-cd764e5f919b"


def fake_id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


@pytest.mark.parametrize(
    ("fixture", "seed", "runtime", "pod_uid"),
    [
        ("docker_cgroupfs.txt", "docker", "docker", ""),
        ("docker_systemd.txt", "docker", "docker", ""),
        ("docker_systemd.v2.txt", "docker", "docker", ""),
        ("docker_in_docker.txt", "inner", "docker", ""),
        ("podman_cgroupfs.txt", "podman", "podman", ""),
        ("podman_systemd.txt", "podman", "podman", ""),
        ("podman_systemd.v2.txt", "podman", "podman", ""),
        ("k8s_docker_cgroupfs.txt", "k8s-docker", "", POD_UID),
        ("k8s_containerd_cgroupfs.txt", "containerd", "", POD_UID),
        ("k8s_containerd_systemd.txt", "containerd", "containerd", POD_UID),
        ("k8s_containerd_systemd.v2.txt", "containerd", "containerd", POD_UID),
        ("k8s_crio_systemd.txt", "crio", "cri-o", POD_UID),
        ("k8s_crio_systemd.v2.txt", "crio", "cri-o", POD_UID),
    ],
)
def test_each_runtimes_layout_gives_the_container(
    fixture: str, seed: str, runtime: str, pod_uid: str
) -> None:
    found = container_from_cgroup((FIXTURES / fixture).read_text())
    assert found is not None
    assert (found.id, found.runtime, found.pod_uid) == (fake_id(seed), runtime, pod_uid)


@pytest.mark.parametrize(
    "fixture",
    [
        "host_session.txt",
        "host_session.v2.txt",
        "host_service.txt",
        "host_service.v2.txt",
        # monitors run next to the container, not in it
        "podman_conmon.txt",
        "podman_conmon.v2.txt",
        "k8s_crio_conmon.txt",
        "k8s_crio_conmon.v2.txt",
    ],
)
def test_processes_outside_containers_have_none(fixture: str) -> None:
    assert container_from_cgroup((FIXTURES / fixture).read_text()) is None


def test_ids_must_be_64_hex_digits() -> None:
    # this machine's own memory cgroup carries a 32-digit id: not a container
    assert container_from_path("/process_api/3c5aabf7aaca83f1dc9b171af14f0d42") is None
    assert container_from_path("/docker/" + "A" * 64) is None
    assert container_from_path("/docker/" + "a" * 65) is None


def test_garbage_and_empty_text_give_none() -> None:
    assert container_from_cgroup("") is None
    assert container_from_cgroup("\x00\xff:::\n::\nnonsense") is None


def test_reads_a_live_process() -> None:
    assert read_container(Path("/proc"), os.getpid()) is None  # the tests do not run in a container
    assert read_container(Path("/proc"), 2**22 + 1) is None  # no such process
