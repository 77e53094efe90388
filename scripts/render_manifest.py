#!/usr/bin/env python3
"""Render deploy/k8s/gprofiler.yaml, the plain manifest, from the agent's chart with its default
values (`helm template gprofiler deploy/helm/gprofiler --namespace gprofiler`): the chart is the one
source of truth, and tests/integration/test_helm.py fails when the file differs from a rendering.
`--check` only compares."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELM = ROOT / "build" / "tools" / "helm"  # scripts/build_helm.py
CHART = ROOT / "deploy" / "helm" / "gprofiler"
MANIFEST = ROOT / "deploy" / "k8s" / "gprofiler.yaml"
HEADER = """\
# gprofiler on every node of a cluster: one privileged agent per node in the host's PID namespace,
# uploading each cycle to a studio.
#
#   kubectl create namespace gprofiler
#   kubectl -n gprofiler create secret generic gprofiler --from-literal=token=<studio token>
#   kubectl apply -f gprofiler.yaml
#
# Set GPROFILER_SERVER_HOST to your studio, and the image to where you pushed it
# (./dev.sh image builds gprofiler:<version>). The service name defaults to the node's name;
# set GPROFILER_SERVICE_NAME to one value (your cluster's name) to see the cluster as one service.
# The Helm chart in deploy/helm/gprofiler has every option (values.yaml); this file is that chart
# rendered with its default values by scripts/render_manifest.py: change the chart, not this file.
"""


def rendered(helm: Path = HELM) -> str:
    result = subprocess.run(
        [str(helm), "template", "gprofiler", str(CHART), "--namespace", "gprofiler"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return HEADER + result.stdout


def main(argv: list[str]) -> int:
    text = rendered()
    if "--check" in argv:
        if MANIFEST.read_text() != text:
            print(f"{MANIFEST.relative_to(ROOT)} is not the chart's rendering: run {Path(__file__).name}")
            return 1
        return 0
    MANIFEST.write_text(text)
    print(f"wrote {MANIFEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
