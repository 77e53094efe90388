"""gProfiler's upload protocol (Performance Studio v2) over plain HTTP, from the standard library.

Every request carries the headers GPROFILER-API-KEY and GPROFILER-SERVICE-NAME and the query
parameters key, service, hostname and timestamp; POST bodies are gzipped JSON. The server answers
JSON; a 4xx carries a `message`. urllib follows the usual proxy variables (HTTPS_PROXY, NO_PROXY...)
and needs no dependency, which keeps the agent's memory flat (no grpcio, no requests).
"""

import email.utils
import gzip
import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import Any

from gprofiler import __version__
from gprofiler.config import ServerConfig

HEALTH_TIMEOUT_S = 10
_MAX_RESPONSE_BYTES = 1 << 20


class UploadError(Exception):
    """The server could not be reached or failed (network, timeout, 5xx, an answer that is not JSON)."""


class UploadRejectedError(UploadError):
    """The server refused the request (4xx): sending it again as it is will not help (or, with 429,
    not before `retry_after` seconds)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"the server refused it (HTTP {status}): {message}")
        self.status = status
        self.retry_after = retry_after

    @property
    def final(self) -> bool:
        """The server will never accept this request (too large, invalid), whatever is fixed."""
        return self.status in (400, 413, 415, 422)


def utc_iso(moment: datetime) -> str:
    """ISO-8601 in UTC with an explicit offset, as the protocol's times are written."""
    return moment.astimezone(timezone.utc).isoformat()


def proxy_for(url: str) -> str | None:
    """The proxy urllib will use for `url`, from the environment, if any."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.hostname and urllib.request.proxy_bypass(parsed.hostname):
        return None
    return urllib.request.getproxies().get(parsed.scheme)


class StudioClient:
    def __init__(self, server: ServerConfig, hostname: str) -> None:
        self.server = server
        self.hostname = hostname
        context = ssl.create_default_context()
        if not server.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))

    def _url(self, base: str, version: str, path: str, extra: dict[str, str] | None = None) -> str:
        params = {
            "key": self.server.token,
            "service": self.server.service_name,
            "hostname": self.hostname,
            "timestamp": utc_iso(datetime.now(timezone.utc)),
            **(extra or {}),
        }
        return f"{base}/api/{version}/{path}?{urllib.parse.urlencode(params)}"

    def _request(self, url: str, body: Any | None, timeout: float) -> dict[str, Any]:
        headers = {"GPROFILER-API-KEY": self.server.token, "GPROFILER-SERVICE-NAME": self.server.service_name}
        data = None
        if body is not None:
            data = gzip.compress(json.dumps(body, ensure_ascii=False).encode("utf-8"), compresslevel=6)
            headers.update({"Content-Encoding": "gzip", "Content-Type": "application/json"})
        request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
        try:
            with self._opener.open(request, timeout=timeout) as response:
                raw = response.read(_MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as error:
            detail = _error_message(error.read(_MAX_RESPONSE_BYTES))
            if 400 <= error.code < 500:
                retry_after = retry_after_seconds(error.headers.get("Retry-After"))
                raise UploadRejectedError(error.code, detail, retry_after) from None
            raise UploadError(f"the server failed (HTTP {error.code}): {detail}") from None
        except urllib.error.URLError as error:
            raise UploadError(f"cannot reach {self.server.server_host}: {error.reason}") from None
        except (OSError, http.client.HTTPException) as error:
            raise UploadError(f"cannot talk to {self.server.server_host}: {error!r}") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise UploadError(f"the server's answer is not JSON: {raw[:100]!r}") from None
        if not isinstance(answer, dict):
            raise UploadError(f"the server's answer is not a JSON object: {raw[:100]!r}")
        return answer

    def health_check(self) -> dict[str, Any]:
        url = self._url(self.server.server_host, "v1", "health_check")
        return self._request(url, None, HEALTH_TIMEOUT_S)

    def submit_profile(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one profile (start_time, end_time, hostname, profile, cpu_avg, mem_avg, spawn_time, gpid)."""
        url = self._url(self.server.server_host, "v2", "profiles", {"version": __version__})
        return self._request(url, body, self.server.timeout)

    def submit_logs(self, api_server: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request(self._url(api_server, "v1", "logs"), body, HEALTH_TIMEOUT_S)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """An HTTP Retry-After header (seconds, or an HTTP date) as seconds from now; None if absent or
    not understood."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - (now or datetime.now(timezone.utc))).total_seconds())


def _error_message(raw: bytes) -> str:
    try:
        message = json.loads(raw).get("message")
        if isinstance(message, str):
            return message[:500]
    except (ValueError, AttributeError):
        pass
    return raw[:200].decode("utf-8", "replace").strip() or "(no message)"
