"""Pod labels from the Kubernetes API, with the pod's service account (`--k8s-pod-labels`, off by default).

In a pod, the API is at https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT and the service
account's token and the cluster's CA are mounted at /var/run/secrets/kubernetes.io/serviceaccount.
The DaemonSet's ClusterRole allows `get` on pods and nothing else. Labels are cached per pod for
ten minutes; an API that cannot be reached or refuses gives no labels and one warning.
"""

import http.client
import json
import logging
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from gprofiler.discovery.container_names import k8s_fields

logger = logging.getLogger(__name__)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
CACHE_SECONDS = 600.0
REQUEST_TIMEOUT_S = 3.0
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


def pod_of(container_name: str) -> tuple[str, str] | None:
    """(namespace, pod) of a `k8s_<container>_<pod>_<namespace>_...` name; None for other names."""
    fields = k8s_fields(container_name)
    if fields is None or not fields[1] or not fields[2]:
        return None
    return fields[2], fields[1]


class PodLabels:
    """Labels of pods by (namespace, name), read from the API server with a bearer token."""

    def __init__(
        self,
        api_url: str,
        token: str,
        ca_file: str | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._context = ssl.create_default_context(cafile=ca_file)
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._warned = False

    @classmethod
    def in_cluster(
        cls, environ: Mapping[str, str] = os.environ, accounts: Path = SERVICE_ACCOUNT_DIR
    ) -> "PodLabels":
        """From the pod's environment and service account; ValueError when not in a pod."""
        host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise ValueError("--k8s-pod-labels: KUBERNETES_SERVICE_HOST is not set (not running in a pod)")
        try:
            token = (accounts / "token").read_text().strip()
        except OSError as error:
            raise ValueError(f"--k8s-pod-labels: cannot read the service account's token: {error}") from error
        host = f"[{host}]" if ":" in host else host
        return cls(f"https://{host}:{port}", token, str(accounts / "ca.crt"))

    def labels_of(self, pods: Iterable[tuple[str, str]]) -> dict[str, dict[str, str]]:
        """{"namespace/pod": labels} for these pods (pods whose labels could not be read are left out)."""
        found = {}
        now = self._clock()
        for pod in sorted(set(pods)):
            cached = self._cache.get(pod)
            if cached is None or now - cached[0] > CACHE_SECONDS:
                labels = self._fetch(*pod)
                if labels is None:
                    continue
                cached = (now, labels)
                self._cache[pod] = cached
            found[f"{pod[0]}/{pod[1]}"] = cached[1]
        self._cache = {key: value for key, value in self._cache.items() if now - value[0] <= CACHE_SECONDS}
        return found

    def _fetch(self, namespace: str, name: str) -> dict[str, str] | None:
        quote = urllib.parse.quote
        url = f"{self.api_url}/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}"
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(
                request, timeout=REQUEST_TIMEOUT_S, context=self._context
            ) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
            if len(body) > MAX_RESPONSE_BYTES:
                raise ValueError(f"answer larger than {MAX_RESPONSE_BYTES} bytes")
            labels = json.loads(body)["metadata"].get("labels") or {}
            if not isinstance(labels, dict):
                raise ValueError("labels are not an object")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return {}  # the pod is gone
            self._warn(f"HTTP {error.code} for pod {namespace}/{name}")
            return None
        except (OSError, http.client.HTTPException, ValueError, TypeError, KeyError, AttributeError) as error:
            self._warn(f"pod {namespace}/{name}: {error}")
            return None
        if self._warned:
            logger.info("pod labels available again from %s", self.api_url)
            self._warned = False
        return {str(key): str(value) for key, value in labels.items()}

    def _warn(self, reason: str) -> None:
        if not self._warned:
            logger.warning("pod labels unavailable from %s: %s", self.api_url, reason)
            self._warned = True
        else:
            logger.debug("pod labels still unavailable: %s", reason)
