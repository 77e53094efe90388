"""The web UI's files and forms: a fixed list of files read at start (never a path taken from a
request), the login form's fields, and the key that signs session cookies (see auth.py).
"""

import os
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs

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
    """The signing key: $GPROFILER_STUDIO_SESSION_KEY (one for studio processes on several machines,
    e.g. a Kubernetes Secret), else the data directory's, created (owner-only) on first use; workers
    share it."""
    given = os.environ.get("GPROFILER_STUDIO_SESSION_KEY", "")
    if given:
        if len(given) < 32:
            raise ValueError("GPROFILER_STUDIO_SESSION_KEY must be at least 32 characters")
        return given.encode()
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
class Asset:
    body: bytes
    content_type: str


def load_assets() -> dict[str, Asset]:
    """The UI's files by the name they are served under (`/ui/<name>`), read once."""
    folder = resources.files("gprofiler_studio") / "ui"
    shared = resources.files("gprofiler") / "resources" / "flamegraph" / "frame_kinds.js"
    files = {entry.name: entry for entry in folder.iterdir() if entry.is_file()}
    vendor = folder / "vendor"
    required = (
        "d3.min.js", "d3-flamegraph.min.js", "uPlot.min.js", "uPlot.min.css",
        "swagger-ui-bundle.js", "swagger-ui.css",
    )  # fmt: skip
    if not all((vendor / name).is_file() for name in required):
        raise UiAssetsMissingError(
            "the web UI's libraries (d3, d3-flame-graph, uPlot, Swagger UI) are missing from the package: "
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


def form_fields(body: bytes) -> dict[str, str]:
    """The first value of each field of a url-encoded form body."""
    return {name: values[0] for name, values in parse_qs(body.decode("utf-8", "replace")).items() if values}


def safe_next(target: str) -> str:
    """Where to go after logging in: a path of this site only (never `//host` or a scheme)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
