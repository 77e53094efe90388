"""A server speaking gProfiler's upload protocol that records what it receives and fails on request.

The tests point the real agent (or its upload sink) at it on loopback. `mode` says how it answers:
"ok", "error" (HTTP 503), "reject" (HTTP 401 with a JSON message), "garbage" (200 with HTML); and
`stop()` / `start()` take it off and back onto the same port, as a server that is down would be.
`refuse`, when set, picks the answer per received profile: (status, message, headers) or None to
take it.
"""

import gzip
import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]


@dataclass
class RecordingServer:
    port: int = 0
    mode: str = "ok"
    profiles: list[Received] = field(default_factory=list)
    logs: list[Received] = field(default_factory=list)
    health_checks: int = 0
    refuse: Callable[[dict[str, Any]], tuple[int, str, dict[str, str]] | None] | None = None
    refused: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "RecordingServer":
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/api/v1/health_check"):
                    with recorder._lock:
                        recorder.health_checks += 1
                    self._answer(200, {"message": "ok"})
                else:
                    self._answer(404, {"message": "not found"})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if recorder.mode == "error":
                    return self._answer(503, {"message": "try later"})
                if recorder.mode == "reject":
                    return self._answer(401, {"message": "bad token"})
                if recorder.mode == "garbage":
                    return self._send(200, b"<html>proxy login</html>", "text/html")
                parsed = urllib.parse.urlsplit(self.path)
                received = Received(
                    parsed.path,
                    dict(urllib.parse.parse_qsl(parsed.query)),
                    {name.lower(): value for name, value in self.headers.items()},  # names are case-blind
                    json.loads(gzip.decompress(raw)),
                )
                with recorder._lock:
                    refusal = recorder.refuse(received.body) if recorder.refuse is not None else None
                    if parsed.path == "/api/v2/profiles" and refusal is not None:
                        recorder.refused.append(received)
                        status, message, headers = refusal
                        return self._answer(status, {"message": message}, headers)
                    if parsed.path == "/api/v2/profiles":
                        recorder.profiles.append(received)
                        number = len(recorder.profiles)
                        return self._answer(200, {"gpid": f"gpid-{number}"})
                    recorder.logs.append(received)
                self._answer(200, {})

            def _answer(
                self, status: int, document: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                self._send(status, json.dumps(document).encode(), "application/json", headers)

            def _send(
                self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def start_times(self) -> list[str]:
        with self._lock:
            return [received.body["start_time"] for received in self.profiles]
