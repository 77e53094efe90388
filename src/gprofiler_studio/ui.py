"""The web UI's server side: its files, the login that turns a token into a session cookie, and
the session check the API's routes accept besides a token header.

A session cookie holds the token's hash and is signed (itsdangerous, with a key kept in the data
directory and shared by every worker) and dated: it expires after `SESSION_HOURS`, and every request
checks that its token still exists, so deleting a token ends its sessions. The raw token is never
stored in the browser. Static files are served from a fixed list read at start, never from a path
taken from the request.
"""

import os
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SESSION_COOKIE = "gprofiler_studio_session"
SESSION_HOURS = 12
KEY_FILE = "session.key"
MAX_LOGIN_BODY = 4096
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


class UiAssetsMissingError(Exception):
    """The npm bundles were not copied into the package (run `./dev.sh setup`)."""


def session_key(data_dir: Path) -> bytes:
    """The data directory's signing key, created (owner-only) on first use; workers share it."""
    path = data_dir / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another worker created it first
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


@dataclass(frozen=True)
class Sessions:
    key: bytes

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.key, salt="gprofiler-studio-session")

    def issue(self, token_hash: str) -> str:
        return self._serializer().dumps({"t": token_hash})

    def token_hash(self, cookie: str) -> str | None:
        """The token hash a valid, unexpired cookie carries; None otherwise."""
        try:
            value = self._serializer().loads(cookie, max_age=SESSION_HOURS * 3600)
        except (SignatureExpired, BadSignature):
            return None
        token_hash = value.get("t") if isinstance(value, dict) else None
        return token_hash if isinstance(token_hash, str) else None


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


def load_assets() -> dict[str, Asset]:
    """The UI's files by the name they are served under (`/ui/<name>`), read once."""
    folder = resources.files("gprofiler_studio") / "ui"
    shared = resources.files("gprofiler") / "resources" / "flamegraph" / "frame_kinds.js"
    files = {entry.name: entry for entry in folder.iterdir() if entry.is_file()}
    vendor = folder / "vendor"
    required = ("d3.min.js", "d3-flamegraph.min.js", "uPlot.min.js", "uPlot.min.css")
    if not all((vendor / name).is_file() for name in required):
        raise UiAssetsMissingError(
            "the web UI's libraries (d3, d3-flame-graph, uPlot) are missing from the package: "
            "build them with `./dev.sh setup`"
        )
    files.update({f"vendor/{name}": vendor / name for name in required})
    files["frame_kinds.js"] = shared
    assets = {}
    for name, entry in files.items():
        suffix = Path(name).suffix
        if suffix in _CONTENT_TYPES:
            assets[name] = Asset(entry.read_bytes(), _CONTENT_TYPES[suffix])
    return assets


def login_form(body: bytes) -> tuple[str, str]:
    """(token, next) from the login form's url-encoded body."""
    fields = parse_qs(body.decode("utf-8", "replace"))
    token = (fields.get("token") or [""])[0].strip()
    return token, safe_next((fields.get("next") or ["/"])[0])


def safe_next(target: str) -> str:
    """Where to go after logging in: a path of this site only (never `//host` or a scheme)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
