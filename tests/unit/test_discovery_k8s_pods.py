"""Pod labels through a real HTTPS server that answers as the Kubernetes API does (bearer token,
the cluster's CA), with a certificate made by openssl for the test."""

import http.server
import json
import logging
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gprofiler.discovery.k8s_pods import PodLabels, pod_of

TOKEN = "test-service-account-token"
PODS = {("prod", "shop-1"): {"app": "shop", "tier": "web"}}


@dataclass
class FakeApi:
    url: str
    ca_file: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FakeApi]:
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kubernetes",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"kind": "Status", "code": 401})
                return
            parts = self.path.split("/")  # /api/v1/namespaces/<ns>/pods/<name>
            if parts[-1] == "garbage":  # a proxy or a broken server: bytes that are not an HTTP answer
                self.wfile.write(b"\x00\xffnot an HTTP answer\r\n\r\n")
                self.close_connection = True
                return
            labels = PODS.get((parts[4], parts[6])) if len(parts) == 7 else None
            if labels is None:
                self._answer(404, {"kind": "Status", "code": 404})
            else:
                self._answer(200, {"kind": "Pod", "metadata": {"name": parts[6], "labels": labels}})

        def _answer(self, code: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeApi(f"https://127.0.0.1:{server.server_address[1]}", str(cert), requests)
    finally:
        server.shutdown()
        server.server_close()


def test_pod_of_a_kubernetes_container_name() -> None:
    assert pod_of("k8s_api_shop-1_prod_0f1e-uid_3") == ("prod", "shop-1")
    assert pod_of("k8s_api_shop-1_prod_0f1e-uid") == ("prod", "shop-1")  # containerd: no restart count
    assert pod_of("web-1") is None
    assert pod_of("k8s_x") is None


def test_labels_are_read_with_the_token_and_cached(api: FakeApi) -> None:
    clock = [0.0]
    pods = PodLabels(api.url, TOKEN, api.ca_file, clock=lambda: clock[0])
    wanted = [("prod", "shop-1"), ("prod", "gone-7")]
    assert pods.labels_of(wanted) == {"prod/shop-1": {"app": "shop", "tier": "web"}, "prod/gone-7": {}}
    assert api.requests == ["/api/v1/namespaces/prod/pods/gone-7", "/api/v1/namespaces/prod/pods/shop-1"]
    clock[0] = 300
    pods.labels_of(wanted)
    assert len(api.requests) == 2  # cached
    clock[0] = 700
    pods.labels_of(wanted)
    assert len(api.requests) == 4  # expired, read again


def test_names_are_quoted_into_the_path(api: FakeApi) -> None:
    pods = PodLabels(api.url, TOKEN, api.ca_file)
    assert pods.labels_of([("prod", "../../x?y")]) == {"prod/../../x?y": {}}
    assert api.requests == ["/api/v1/namespaces/prod/pods/..%2F..%2Fx%3Fy"]


def test_a_refusal_or_an_untrusted_server_gives_no_labels_and_one_warning(
    api: FakeApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    refused = PodLabels(api.url, "wrong-token", api.ca_file)
    assert refused.labels_of([("prod", "shop-1"), ("prod", "shop-2")]) == {}
    other_ca = tmp_path / "other.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
         "-keyout", str(tmp_path / "other.key"), "-out", str(other_ca)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    untrusted = PodLabels(api.url, TOKEN, str(other_ca))
    assert untrusted.labels_of([("prod", "shop-1")]) == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "HTTP 401" in warnings[0] and "CERTIFICATE_VERIFY_FAILED" in warnings[1]


def test_an_answer_that_is_not_http_gives_no_labels_and_one_warning(
    api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    pods = PodLabels(api.url, TOKEN, api.ca_file)
    assert pods.labels_of([("prod", "garbage"), ("prod", "shop-1")]) == {
        "prod/shop-1": PODS[("prod", "shop-1")]
    }
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "prod/garbage" in warnings[0], warnings


def test_in_cluster_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not running in a pod"):
        PodLabels.in_cluster({}, tmp_path)
    with pytest.raises(ValueError, match="token"):
        PodLabels.in_cluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, tmp_path)
    (tmp_path / "token").write_text(TOKEN + "\n")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=ca",
         "-keyout", str(tmp_path / "ca.key"), "-out", str(tmp_path / "ca.crt")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pods = PodLabels.in_cluster(
        {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}, tmp_path
    )
    assert pods.api_url == "https://[fd00::1]:6443"
