"""The Helm charts (deploy/helm), linted and rendered by the real helm (built at setup from the Go
module proxy), every rendered object checked against the Kubernetes API schemas, and the plain
manifest checked to be the agent chart's rendering."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gprofiler import __version__
from gprofiler.agent_cli import environment_variables
from tests.integration.conftest import ROOT

HELM = ROOT / "build" / "tools" / "helm"  # scripts/build_helm.py
CHARTS = ROOT / "deploy" / "helm"
KUBERNETES_VERSIONS = ("1.28.0", kubernetes_validate.latest_version())
VARIANTS = [
    (chart, values)
    for chart in ("gprofiler", "gprofiler-studio")
    for values in [None, *sorted(path.name for path in (CHARTS / chart / "ci").glob("*.yaml"))]
]
# what studio reads from its environment (gprofiler_studio/cli.py and ui.py)
STUDIO_VARIABLES = {"GPROFILER_STUDIO_DATA_DIR", "GPROFILER_STUDIO_STORAGE", "GPROFILER_STUDIO_SESSION_KEY"}


@pytest.fixture(scope="module", autouse=True)
def _helm() -> None:
    if not HELM.exists():
        pytest.fail(f"{HELM} is missing (./dev.sh setup-test builds it: scripts/build_helm.py)")


def helm(*args: str | Path) -> str:
    result = subprocess.run([str(HELM), *map(str, args)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def render(chart: str, values: str | None, *extra: str) -> list[dict[str, Any]]:
    arguments: list[str | Path] = ["template", "release-x", CHARTS / chart, "--namespace", "profiling"]
    arguments += extra
    if values:
        arguments += ["--values", CHARTS / chart / "ci" / values]
    return [document for document in yaml.safe_load_all(helm(*arguments)) if document]


def _one(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [document for document in documents if document["kind"] == kind]
    return found


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


@pytest.mark.parametrize(("chart", "values"), VARIANTS)
def test_charts_lint_render_and_validate(chart: str, values: str | None) -> None:
    options = ["--values", str(CHARTS / chart / "ci" / values)] if values else []
    helm("lint", "--strict", CHARTS / chart, *options)
    documents = render(chart, values)
    assert documents
    for document in documents:
        assert document["metadata"].get("namespace", "profiling") == "profiling"
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(document, version, strict=True)


def test_agent_chart_values_reach_the_daemonset() -> None:
    daemonset = _one(render("gprofiler", "containers-values.yaml"), "DaemonSet")
    pod = daemonset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = _env(container)
    assert env["GPROFILER_CONTAINERS"]["value"] == "api,worker"
    assert env["GPROFILER_PERF_MODE"]["value"] == "smart"
    assert env["GPROFILER_PROFILING_FREQUENCY"]["value"] == "49"
    assert env["GPROFILER_PROFILING_DURATION"]["value"] == "30"
    assert env["GPROFILER_SERVICE_NAME"]["value"] == "prod-cluster"
    assert env["GPROFILER_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "release-x-gprofiler-token",
        "key": "token",
    }
    assert container["args"] == ["--python-mode", "pyspy"]
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert container["image"] == f"gprofiler:{__version__}"
    assert pod["tolerations"] == [{"operator": "Exists"}] and pod["hostPID"] is True
    defaults = _one(render("gprofiler", None), "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    assert _env(defaults)["GPROFILER_SERVICE_NAME"]["value"] == "$(NODE_NAME)"
    assert "GPROFILER_CONTAINERS" not in _env(defaults)


def test_agent_reads_the_api_only_with_pod_labels_and_only_pods() -> None:
    plain = render("gprofiler", None)
    assert {document["kind"] for document in plain} == {"ServiceAccount", "DaemonSet"}
    assert _one(plain, "ServiceAccount")["automountServiceAccountToken"] is False
    labelled = render("gprofiler", "pod-labels-values.yaml")
    role, binding = _one(labelled, "ClusterRole"), _one(labelled, "ClusterRoleBinding")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = _one(labelled, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "profiling"}
    ]
    pod = _one(labelled, "DaemonSet")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert _env(pod["containers"][0])["GPROFILER_K8S_POD_LABELS"]["value"] == "true"


@pytest.mark.parametrize(("chart", "values"), VARIANTS)
def test_charts_set_only_variables_their_programs_read(chart: str, values: str | None) -> None:
    known = environment_variables() if chart == "gprofiler" else STUDIO_VARIABLES
    for document in render(chart, values):
        pod = document.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            names = {name for name in _env(container) if name.startswith("GPROFILER_")}
            assert names <= known, names - known


def test_studio_chart_sqlite_and_clickhouse() -> None:
    sqlite = render("gprofiler-studio", "sqlite-values.yaml")
    deployment = _one(sqlite, "Deployment")
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert _one(sqlite, "PersistentVolumeClaim")["spec"]["resources"]["requests"]["storage"] == "50Gi"
    pod = deployment["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["args"] == ["token", "create", "--service", "checkout", "--from-file", "/token/token"]
    token_volume = next(volume for volume in pod["volumes"] if volume["name"] == "upload-token")
    assert token_volume["secret"]["secretName"] == "checkout-token"  # the user's: none made
    assert [s["metadata"]["name"] for s in sqlite if s["kind"] == "Secret"] == [
        "release-x-gprofiler-studio-session"
    ]
    (studio,) = pod["containers"]
    assert (
        "--anonymous-read" in studio["args"]
        and studio["readinessProbe"]["httpGet"]["path"] == "/api/v1/health_check"
    )
    clickhouse = render("gprofiler-studio", "clickhouse-values.yaml")
    deployment = _one(clickhouse, "Deployment")
    assert deployment["spec"]["replicas"] == 3 and "strategy" not in deployment["spec"]
    assert not [document for document in clickhouse if document["kind"] == "PersistentVolumeClaim"]
    env = _env(deployment["spec"]["template"]["spec"]["containers"][0])
    assert env["GPROFILER_STUDIO_STORAGE"]["value"].startswith("clickhouse://ch1:9000,ch2:9000/")
    secrets = {s["metadata"]["name"] for s in clickhouse if s["kind"] == "Secret"}
    assert secrets == {"gprofiler", "release-x-gprofiler-studio-session"}  # the agent chart's default name
    assert _one(clickhouse, "Ingress")["spec"]["rules"][0]["host"] == "studio.example.com"
    # several replicas on SQLite are refused
    result = subprocess.run(
        [str(HELM), "template", "x", str(CHARTS / "gprofiler-studio"), "--set", "replicas=2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0 and "replicas > 1 needs ClickHouse" in result.stderr


def test_the_plain_manifest_is_the_agent_charts_rendering() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_manifest.py"), "--check"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_studio_reads_the_variables_the_chart_sets(tmp_path: Path) -> None:
    """The init container's `token create --from-file` with the chart's environment: registered
    once, again without a change, and the data directory is the one the variable names."""
    token = tmp_path / "token"
    token.write_text("example-token-not-a-real-one-0123456789\n")
    env = {**os.environ, "GPROFILER_STUDIO_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "gprofiler_studio.cli", "token", "create", "--service", "checkout",
               "--from-file", str(token)]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert first.returncode == 0 and "registered token" in first.stderr, first.stderr
    assert again.returncode == 0 and "registered already" in again.stderr, again.stderr
    assert (tmp_path / "data" / "studio.sqlite3").exists()
    listed = subprocess.run(
        [sys.executable, "-m", "gprofiler_studio.cli", "token", "list"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert listed.stdout.count("service checkout") == 1
    other = [*command[:5], "--all", *command[7:]]
    refused = subprocess.run(other, capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode != 0 and "another scope" in refused.stderr
