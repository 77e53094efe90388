"""`gprofiler-studio serve` and `gprofiler-studio token create|list|revoke|budget`.

Studio's files are the profiles of a whole fleet, the session key and the token hashes: the data
directory is made 0700 and everything studio creates in it 0600 (umask 077), whatever the caller's
umask, and files an earlier version left more open are closed down at start.
"""

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

from gprofiler_studio.storage.base import AccessStore, Store
from gprofiler_studio.tokens import ID_LENGTH, Budget, TokenInfo, new_token, token_hash
from gprofiler_studio.ui import session_key

DEFAULT_DATA_DIR = "/var/lib/gprofiler-studio"
_ENV_STORAGE, _ENV_DATA_DIR, _ENV_MAX_BODY, _ENV_ANONYMOUS, _ENV_RETENTION, _ENV_PROXIES = (
    "GPROFILER_STUDIO_STORAGE",
    "GPROFILER_STUDIO_DATA_DIR",
    "GPROFILER_STUDIO_MAX_BODY",
    "GPROFILER_STUDIO_ANONYMOUS_READ",
    "GPROFILER_STUDIO_RETENTION_DAYS",
    "GPROFILER_STUDIO_TRUSTED_PROXIES",
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


def private_data_dir(data_dir: Path) -> None:
    """The data directory 0700 and its files 0600; what studio creates from now on too (umask 077)."""
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    for entry in data_dir.iterdir():
        if entry.is_file() and not entry.is_symlink():
            os.chmod(entry, 0o600)


def open_store(url: str | None, data_dir: Path) -> Store:
    """`--storage`: absent or sqlite:// (the data directory's studio.sqlite3), or clickhouse://host:port/db."""
    private_data_dir(data_dir)
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
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("GPROFILER_STUDIO_DATA_DIR") or DEFAULT_DATA_DIR),
        help="default: $GPROFILER_STUDIO_DATA_DIR, else %(default)s",
    )
    parser.add_argument(
        "--storage",
        default=os.environ.get("GPROFILER_STUDIO_STORAGE") or None,
        help="sqlite://PATH (default: studio.sqlite3 in --data-dir) or clickhouse://HOST:PORT/DATABASE "
        "(default: $GPROFILER_STUDIO_STORAGE)",
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
    serve.add_argument(
        "--retention-days",
        type=float,
        default=7.0,
        help="profiles kept (and how old an uploaded profile may be) (default %(default)s)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a reverse proxy whose X-Forwarded-Proto/-For/-Host studio believes (repeatable; '*': any); "
        "behind a TLS proxy this makes session cookies Secure",
    )
    serve.add_argument("--rollup-retention-days", type=float, default=90.0, help="hourly rollups kept")
    token = commands.add_parser("token", help="manage tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="print a new token (shown only once)")
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument("--service", help="the service it uploads and reads")
    scope.add_argument("--all", action="store_true", help="read every service (uploads nothing)")
    create.add_argument(
        "--from-file",
        type=Path,
        metavar="PATH",
        help="register the token in this file instead of making one (e.g. a Kubernetes Secret's): "
        "nothing is printed, and a token already registered with the same scope is left as it is",
    )
    _budget_arguments(create)
    token_commands.add_parser("list", help="id, scope, created, last used and budget of every token")
    revoke = token_commands.add_parser("revoke", help="end a token and its web sessions, at once")
    revoke.add_argument("id", help="the token's id, as `token list` shows it")
    budget = token_commands.add_parser("budget", help="change a token's ingest budget")
    budget.add_argument("id", help="the token's id, as `token list` shows it")
    _budget_arguments(budget)
    return parser


def _budget_arguments(parser: argparse.ArgumentParser) -> None:
    default = Budget()
    parser.add_argument(
        "--profiles-per-minute",
        type=int,
        default=default.profiles_per_minute,
        help="uploads past this many a minute get 429 (0: no limit; default %(default)s)",
    )
    parser.add_argument(
        "--mb-per-day",
        type=float,
        default=default.bytes_per_day / 1024**2,
        help="compressed upload MB a day (UTC) past which uploads get 429 (0: no limit; default %(default)s)",
    )


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
        retention=timedelta(days=float(os.environ[_ENV_RETENTION])),
        trusted_proxies=tuple(filter(None, os.environ[_ENV_PROXIES].split(","))),
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
    # uvicorn believes X-Forwarded-Proto/-For only from these (by default it believes 127.0.0.1)
    proxies: dict[str, Any] = {
        "proxy_headers": bool(args.trusted_proxy),
        "forwarded_allow_ips": ",".join(args.trusted_proxy) or None,
    }
    try:
        if args.workers > 1:
            # Each worker process opens the store itself (SQLite serialises their writes).
            os.environ.update(
                {
                    _ENV_STORAGE: args.storage or "",
                    _ENV_DATA_DIR: str(args.data_dir),
                    _ENV_MAX_BODY: str(max_body),
                    _ENV_ANONYMOUS: "1" if args.anonymous_read else "0",
                    _ENV_RETENTION: str(args.retention_days),
                    _ENV_PROXIES: ",".join(args.trusted_proxy),
                }
            )
            uvicorn.run(
                "gprofiler_studio.cli:app_from_environment", factory=True, workers=args.workers,
                host=args.host, port=args.port, log_config=None, access_log=True, **proxies,
            )  # fmt: skip
        else:
            settings = StudioSettings(
                max_body_bytes=max_body,
                session_key=session_key(args.data_dir),
                anonymous_read=args.anonymous_read,
                retention=minutes_for,
                trusted_proxies=tuple(args.trusted_proxy),
            )
            app = create_app(store, settings)
            uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=True, **proxies)
    finally:
        stop.set()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    store = open_store(args.storage, args.data_dir)
    try:
        if args.command == "serve":
            return _serve(args, store)
        return _token_command(args, store.access)
    finally:
        store.close()


def _budget(args: argparse.Namespace) -> Budget:
    if args.profiles_per_minute < 0 or args.mb_per_day < 0:
        raise SystemExit("gprofiler-studio: a budget is a number of 0 (no limit) or more")
    return Budget(args.profiles_per_minute, int(args.mb_per_day * 1024**2))


def _find(access: AccessStore, token_id: str) -> TokenInfo:
    found = [info for info in access.tokens() if info.id == token_id.strip().lower()]
    if not found:
        raise SystemExit(f"gprofiler-studio: no token {token_id!r} (see `token list`)")
    return found[0]


def _token_command(args: argparse.Namespace, access: AccessStore) -> int:
    if args.token_command == "create":
        service = None if args.all else args.service
        if args.from_file is None:
            token = new_token()
            access.add_token(token_hash(token), service, _budget(args))
            print(token)
            return 0
        return _register(access, _token_from(args.from_file), service, _budget(args))
    elif args.token_command == "list":
        print(f"{'id':<12}  {'scope':<24}  {'created':<20}  {'last used':<20}  budget")
        for info in access.tokens():
            scope = f"service {info.service}" if info.service is not None else "read all services"
            budget = f"{info.budget.profiles_per_minute or 'any'}/min, " + (
                f"{info.budget.bytes_per_day / 1024**2:g} MB/day"
                if info.budget.bytes_per_day
                else "any MB/day"
            )
            created, used = _when(info.created), _when(info.last_used)
            print(f"{info.id:<12}  {scope:<24}  {created:<20}  {used:<20}  {budget}")
    elif args.token_command == "revoke":
        info = _find(access, args.id)
        access.revoke_token(info.hash)
        print(f"revoked {info.id}: uploads, reads and web sessions with it are refused from now on")
    else:
        info = _find(access, args.id)
        access.set_budget(info.hash, _budget(args))
        print(f"budget of {info.id} changed")
    return 0


def _token_from(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise SystemExit(f"gprofiler-studio: cannot read a token from {path}: {error}") from None
    if not 20 <= len(token) <= 256 or not token.isascii() or not token.isprintable() or " " in token:
        raise SystemExit(f"gprofiler-studio: {path} must hold one token: 20 to 256 printable ASCII, no space")
    return token


def _register(access: AccessStore, token: str, service: str | None, budget: Budget) -> int:
    """A given token registered for `service` once; again with the same scope, nothing changes."""
    found = access.find_token(token_hash(token))
    if found is None:
        access.add_token(token_hash(token), service, budget)
        print(f"registered token {token_hash(token)[:ID_LENGTH]}", file=sys.stderr)
        return 0
    if found.service != service:
        raise SystemExit(f"gprofiler-studio: token {found.id} is registered with another scope")
    print(f"token {found.id} is registered already", file=sys.stderr)
    return 0


def _when(epoch: int | None) -> str:
    return (
        "never"
        if epoch is None
        else datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    )


if __name__ == "__main__":
    sys.exit(main())
