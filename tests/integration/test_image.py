"""The container image (Dockerfile), built with podman from the single-file executable.

No container can be started on this machine (`podman run` fails here), so the image's filesystem is
exported and run chrooted with the image's own entrypoint and environment, as a container runtime
would, with the host's /proc at /host/proc.
"""

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gprofiler import __version__
from tests.integration.conftest import ROOT, parse_profile, run_chrooted, running

PODMAN = shutil.which("podman")


def _podman(*args: str) -> str:
    assert PODMAN is not None
    result = subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"podman {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def image(executable: Path) -> Iterator[str]:
    if PODMAN is None:
        pytest.fail("podman is not installed (./dev.sh setup-test installs it)")
    subprocess.run(
        [str(ROOT / "scripts" / "stage_image_root.sh"), str(ROOT / "build" / "image-root"), str(executable)],
        check=True,
    )
    tag = f"localhost/gprofiler-test:{uuid.uuid4().hex[:12]}"
    _podman(
        "build",
        "--quiet",
        "--build-arg",
        "EXECUTABLE_FROM=prebuilt",
        "--build-arg",
        f"GPROFILER_VERSION={__version__}",
        "-t",
        tag,
        str(ROOT),
    )
    try:
        yield tag
    finally:
        _podman("rmi", "--force", tag)


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: list[str]
    env: list[str]
    labels: dict[str, str]


def _config(image: str) -> ImageConfig:
    config = json.loads(_podman("image", "inspect", image))[0]["Config"]
    return ImageConfig(config["Entrypoint"], config["Env"], config["Labels"])


def test_image_runs_the_agent_continuously_with_documented_settings(image: str) -> None:
    config = _config(image)
    assert config.entrypoint == ["/gprofiler"]
    environment = dict(item.split("=", 1) for item in config.env)
    assert environment["GPROFILER_CONTINUOUS"] == "true"
    assert environment["GPROFILER_OUTPUT_DIR"] == "/var/lib/gprofiler"
    assert environment["GPROFILER_LOG_FILE"] == ""
    assert config.labels["org.opencontainers.image.version"] == __version__
    assert config.labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def _export(image: str, destination: Path) -> list[str]:
    container = _podman("create", image).strip()
    try:
        archive = destination.with_suffix(".tar")
        _podman("export", "-o", str(archive), container)
    finally:
        _podman("rm", "--force", container)
    destination.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(destination)], check=True)
    return sorted(str(path.relative_to(destination)) for path in destination.rglob("*") if path.is_file())


def test_image_holds_only_the_executable_and_profiles_the_host(
    image: str, busy_fp: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    assert _export(image, root) == ["etc/ssl/certs/ca-certificates.crt", "gprofiler"]

    config = _config(image)
    environment = [*config.env, "GPROFILER_CONTINUOUS=false", "GPROFILER_PROFILING_DURATION=3"]
    with running(busy_fp, "30"):
        result = run_chrooted(
            tmp_path,
            config.entrypoint,
            out_at="/var/lib/gprofiler",
            host_proc=True,
            env=environment,
        )
    assert result.returncode == 0, result.stderr
    assert "discovering processes in /host/proc" in result.stderr
    profile = parse_profile(tmp_path / "out" / "last_profile.col")
    assert sum(profile.of_process(busy_fp.name).values()) > 0.5 * 3 * 11
