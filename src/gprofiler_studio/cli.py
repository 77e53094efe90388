"""`gprofiler-studio serve` and `gprofiler-studio token create`."""

import argparse
import ctypes
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gprofiler_studio.storage.base import Store
from gprofiler_studio.tokens import new_token, token_hash
from gprofiler_studio.ui import session_key

DEFAULT_DATA_DIR = "/var/lib/gprofiler-studio"
_ENV_STORAGE, _ENV_DATA_DIR, _ENV_MAX_BODY, _ENV_ANONYMOUS = (
    "GPROFILER_STUDIO_STORAGE",
    "GPROFILER_STUDIO_DATA_DIR",
    "GPROFILER_STUDIO_MAX_BODY",
    "GPROFILER_STUDIO_ANONYMOUS_READ",
)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
ROLLUP_CHECK = timedelta(minutes=1)  # buckets are rolled up soon after they end
RETENTION_CHECK = timedelta(hours=1)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RedactTokens(logging.Filter):
    """Agents send their token as the `key` query parameter: access log lines must not show it."""

    _KEY = re.compile(r"([?&]key=)[^&\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._KEY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = self._KEY.sub(r"\1***", record.msg)
        return True


def open_store(url: str | None, data_dir: Path) -> Store:
    """`--storage`: absent or sqlite:// (the data directory's studio.sqlite3), or clickhouse://host:port/db."""
    if url is None or url.startswith("sqlite://"):
        from gprofiler_studio.storage.sqlite import SqliteStore

        path = Path(url[len("sqlite://") :]) if url and url != "sqlite://" else data_dir / "studio.sqlite3"
        return SqliteStore(path)
    if url.startswith("clickhouse://"):
        from gprofiler_studio.storage.clickhouse import ClickHouseStore

        try:
            return ClickHouseStore(url)
        except Exception as error:  # the driver's errors have no common base worth importing here
            raise SystemExit(f"gprofiler-studio: cannot use {url}: {error}") from None
    raise SystemExit(
        f"gprofiler-studio: unsupported --storage {url!r} (sqlite://PATH or clickhouse://HOST:PORT/DB)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gprofiler-studio", description="Stores and serves gprofiler profiles."
    )
    parser.add_argument("--data-dir", type=Path, default=Path(DEFAULT_DATA_DIR), help="default: %(default)s")
    parser.add_argument(
        "--storage",
        help="sqlite://PATH (default: studio.sqlite3 in --data-dir) or clickhouse://HOST:PORT/DATABASE",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--max-body-mb", type=float, default=4.0, help="largest compressed upload")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes: decoding uploads uses one CPU each (default 1)",
    )
    serve.add_argument(
        "--anonymous-read",
        action="store_true",
        help="let anyone who reaches the server read profiles and open the web UI without a token "
        "(uploads still need one)",
    )
    serve.add_argument("--retention-days", type=float, default=7.0, help="minute-resolution samples kept")
    serve.add_argument("--rollup-retention-days", type=float, default=90.0, help="hourly rollups kept")
    token = commands.add_parser("token", help="manage tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="print a new token (shown only once)")
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument("--service", help="the service it uploads and reads")
    scope.add_argument("--all", action="store_true", help="read every service (uploads nothing)")
    return parser


def _retention_loop(
    store: Store, minutes_for: timedelta, hours_for: timedelta, stop: threading.Event
) -> None:
    last_retention: datetime | None = None
    while not stop.is_set():
        now = datetime.now(timezone.utc)
        try:
            if last_retention is None or now - last_retention >= RETENTION_CHECK:
                store.apply_retention(now, minutes_for, hours_for)  # rolls up first
                last_retention = now
            else:
                store.roll_up(now)
        except Exception:
            logging.getLogger("gprofiler_studio").exception("rollup or retention failed")
        stop.wait(ROLLUP_CHECK.total_seconds())


def tune_malloc() -> None:
    """Keep glibc from returning and re-faulting the memory of every upload.

    Each upload allocates and frees a few 1 MB buffers (the inflated body, its text); glibc's
    adaptive thresholds end up mapping them fresh every time, ~1,200 page faults per profile
    (measured: 12 with these settings, and decoding 15-25 % faster). Allocations above 16 MB still
    go back to the system when freed. glibc only: elsewhere this does nothing.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 16 * 1024 * 1024)
    mallopt(_M_TRIM_THRESHOLD, 64 * 1024 * 1024)


def app_from_environment() -> Any:
    """The app of one worker process of `serve --workers N`, from the settings its parent exported."""
    from gprofiler_studio.app import StudioSettings, create_app

    tune_malloc()
    _log_json()
    data_dir = Path(os.environ[_ENV_DATA_DIR])
    store = open_store(os.environ[_ENV_STORAGE] or None, data_dir)
    settings = StudioSettings(
        max_body_bytes=int(os.environ[_ENV_MAX_BODY]),
        session_key=session_key(data_dir),
        anonymous_read=os.environ.get(_ENV_ANONYMOUS) == "1",
    )
    return create_app(store, settings)


def _log_json() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RedactTokens())
    for name in ("gprofiler_studio", "uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers = [handler]
        named.setLevel(logging.INFO)
        named.propagate = False


def _serve(args: argparse.Namespace, store: Store) -> int:
    import uvicorn

    from gprofiler_studio.app import StudioSettings, create_app

    tune_malloc()
    _log_json()
    stop = threading.Event()
    minutes_for, hours_for = timedelta(days=args.retention_days), timedelta(days=args.rollup_retention_days)
    threading.Thread(target=_retention_loop, args=(store, minutes_for, hours_for, stop), daemon=True).start()
    max_body = int(args.max_body_mb * 1024 * 1024)
    try:
        if args.workers > 1:
            # Each worker process opens the store itself (SQLite serialises their writes).
            os.environ.update(
                {
                    _ENV_STORAGE: args.storage or "",
                    _ENV_DATA_DIR: str(args.data_dir),
                    _ENV_MAX_BODY: str(max_body),
                    _ENV_ANONYMOUS: "1" if args.anonymous_read else "0",
                }
            )
            uvicorn.run(
                "gprofiler_studio.cli:app_from_environment", factory=True, workers=args.workers,
                host=args.host, port=args.port, log_config=None, access_log=True,
            )  # fmt: skip
        else:
            settings = StudioSettings(
                max_body_bytes=max_body,
                session_key=session_key(args.data_dir),
                anonymous_read=args.anonymous_read,
            )
            app = create_app(store, settings)
            uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=True)
    finally:
        stop.set()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    store = open_store(args.storage, args.data_dir)
    try:
        if args.command == "serve":
            return _serve(args, store)
        token = new_token()
        store.add_token(token_hash(token), None if args.all else args.service)
        print(token)
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
