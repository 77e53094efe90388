"""The deployment files: Kubernetes manifest, Debian unit and settings template, container image.

Each is checked against what it configures: the Kubernetes API schemas (kubernetes-validate, offline)
and the agent's own command line, so a GPROFILER_* variable the agent would silently ignore fails here.
"""

import configparser
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gprofiler import __version__
from gprofiler.agent_cli import environment_variables

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "k8s" / "gprofiler.yaml"
# The oldest Kubernetes still commonly run, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.28.0", kubernetes_validate.latest_version())


def _documents() -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(MANIFEST.read_text()) if document]


def _daemonset() -> dict[str, Any]:
    (daemonset,) = [document for document in _documents() if document["kind"] == "DaemonSet"]
    return daemonset


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifest_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    for document in _documents():
        kubernetes_validate.validate(document, version, strict=True)


def test_invalid_manifest_is_rejected() -> None:
    broken = _daemonset()
    broken["spec"]["template"]["spec"]["hostPID"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_daemonset_runs_a_privileged_agent_in_the_hosts_pid_namespace() -> None:
    pod = _daemonset()["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["privileged"] is True
    assert container["image"] == f"gprofiler:{__version__}"
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    env = {item["name"]: item for item in container["env"]}
    assert env["GPROFILER_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "gprofiler", "key": "token"}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["GPROFILER_SERVICE_NAME"]["value"] == "$(NODE_NAME)"
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    host_paths = {
        volume["name"]: volume["hostPath"]["path"] for volume in pod["volumes"] if "hostPath" in volume
    }
    for path in ("/proc", "/sys", "/sys/kernel/debug"):
        (name,) = [name for name, host_path in host_paths.items() if host_path == path]
        assert mounts[name]["readOnly"] is True, path
    assert mounts["host-proc"]["mountPath"] == "/host/proc"  # where the agent looks by default


def _known(names: set[str]) -> set[str]:
    """The names among `names` that the agent reads (its own options), to compare with all GPROFILER_ ones."""
    return names & environment_variables()


def test_manifest_sets_only_variables_the_agent_reads() -> None:
    (container,) = _daemonset()["spec"]["template"]["spec"]["containers"]
    names = {item["name"] for item in container["env"] if item["name"].startswith("GPROFILER_")}
    assert names == _known(names)


def test_settings_template_and_image_set_only_variables_the_agent_reads() -> None:
    template = (ROOT / "packaging" / "deb" / "envs.sh.template").read_text()
    names = set(re.findall(r"^#?(GPROFILER_[A-Z_]+)=", template, re.MULTILINE))
    assert names and names == _known(names)
    dockerfile = (ROOT / "Dockerfile").read_text()
    names = set(re.findall(r"\b(GPROFILER_[A-Z_]+)=", dockerfile)) - {"GPROFILER_VERSION"}  # a build arg
    assert names and names == _known(names)


def test_unit_runs_the_executable_with_the_settings_file() -> None:
    unit = configparser.RawConfigParser(strict=False)
    unit.read(ROOT / "packaging" / "deb" / "gprofiler.service")
    assert unit["Service"]["EnvironmentFile"] == "/opt/gprofiler/envs.sh"
    assert unit["Service"]["ExecStart"].split()[0] == "/opt/gprofiler/gprofiler"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
