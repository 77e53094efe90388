"""Studio's HTTP API: gProfiler's ingest protocol and the queries. Thin routes over ingest and a Store.

Every route but the health checks and the UI's static files needs a token, from
`GPROFILER-API-KEY`, `Authorization: Bearer`, (ingest only, as agents send it) the `key` query
parameter or (reads only) the web UI's session cookie. A service token ingests and reads its own
service; an all-services token (`token create --all`) reads everything and ingests nothing. With
`anonymous_read` (`serve --anonymous-read`) reads need no token at all; ingest still does.
"""

import functools
import hashlib
import html
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
)
from prometheus_client import (
    Counter as Metric,
)

from gprofiler import __version__
from gprofiler.output.flamegraph import (
    drawable_stacks,
    flat_tree,
    load_assets,
    nested_tree_json,
    render_html,
)
from gprofiler_studio import ui
from gprofiler_studio.ingest import IngestError, inflate, parse_upload
from gprofiler_studio.storage.base import Filters, Store
from gprofiler_studio.tokens import token_hash

logger = logging.getLogger("gprofiler_studio")

DEFAULT_MAX_BODY = 4 * 1024 * 1024
DEFAULT_RANGE = timedelta(hours=1)
# The UI's pages run only the scripts studio serves; d3-flame-graph adds a <style> element.
_PAGE_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class StudioSettings:
    max_body_bytes: int = DEFAULT_MAX_BODY
    # signs the web UI's session cookies; None: a key of this process only (tests, one worker)
    session_key: bytes | None = None
    anonymous_read: bool = False


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.profiles = Metric("studio_profiles_ingested", "Profiles stored", registry=self.registry)
        self.duplicates = Metric(
            "studio_profiles_duplicate", "Profiles received again", registry=self.registry
        )
        self.samples = Metric("studio_samples_ingested", "Samples stored", registry=self.registry)
        self.rejected = Metric(
            "studio_uploads_rejected", "Uploads refused", ["status"], registry=self.registry
        )
        self.logs = Metric("studio_agent_log_records", "Agent log records received", registry=self.registry)
        self.ingest_seconds = Histogram(
            "studio_ingest_seconds", "Time to store one profile", registry=self.registry
        )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def _presented_token(request: Request, allow_query: bool) -> str | None:
    header = request.headers.get("gprofiler-api-key")
    if header:
        return header
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return request.query_params.get("key") if allow_query else None


def _attachment(filename: str) -> dict[str, str]:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
    return {"Content-Disposition": f'attachment; filename="{safe}"'}


def _parse_time(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        if value.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(value), timezone.utc)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise HTTPException(400, f"not a time (ISO-8601 or epoch seconds): {value[:40]!r}") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def create_app(store: Store, settings: StudioSettings | None = None) -> FastAPI:
    settings = settings or StudioSettings()
    metrics = _Metrics()
    app = FastAPI(title="gprofiler-studio", version=__version__)

    sessions = ui.Sessions(settings.session_key or secrets.token_bytes(32))
    assets = ui.load_assets()
    # the downloadable flame graph page's template and libraries: read on the first download, kept
    flamegraph_assets = functools.cache(load_assets)

    def scope(request: Request, ingest: bool = False) -> str | None:
        """The service this request's token may use (None: all); 401 without a valid token."""
        token = _presented_token(request, allow_query=ingest)
        presented = token_hash(token) if token else None
        cookie = request.cookies.get(ui.SESSION_COOKIE)
        if presented is None and cookie and not ingest:
            presented = sessions.token_hash(cookie)
        if presented:
            known, service = store.token_scope(presented)
            if known:
                return service
        elif settings.anonymous_read and not ingest:
            return None
        raise HTTPException(401, "a valid token is needed (GPROFILER-API-KEY or Authorization: Bearer)")

    def readable(request: Request, service: str) -> None:
        allowed = scope(request)
        if allowed is not None and allowed != service:
            raise HTTPException(403, f"this token reads only the service {allowed!r}")

    def filters(
        service: str,
        start: str | None,
        end: str | None,
        host: list[str],
        container: list[str],
        process: list[str],
    ) -> Filters:
        until = _parse_time(end, datetime.now(timezone.utc))
        since = _parse_time(start, until - DEFAULT_RANGE)
        if not since < until:
            raise HTTPException(400, "start must be before end")
        return Filters(service, since, until, tuple(host), tuple(container), tuple(process))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))

    @app.get("/api/v1/health_check")
    @app.get("/healthz")
    def health_check() -> dict[str, str]:
        return {"message": "ok"}

    async def _body(request: Request, limit: int = settings.max_body_bytes) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise IngestError(413, f"body larger than {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise IngestError(413, f"body larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _ingest_service(request: Request) -> str:
        service = request.headers.get("gprofiler-service-name") or request.query_params.get("service")
        if not service:
            raise HTTPException(400, "no service name (GPROFILER-SERVICE-NAME)")
        allowed = scope(request, ingest=True)
        if allowed != service:
            raise HTTPException(403, f"this token does not upload for the service {service!r}")
        return service

    @app.post("/api/v2/profiles")
    async def ingest_profile(request: Request) -> JSONResponse:
        try:
            service = _ingest_service(request)
            body, encoding = await _body(request), request.headers.get("content-encoding")
            # Decoding takes ~15 ms of CPU: off the event loop, which keeps answering meanwhile.
            profile = await run_in_threadpool(lambda: parse_upload(inflate(body, encoding)))
        except HTTPException as error:
            metrics.rejected.labels(str(error.status_code)).inc()
            raise
        except IngestError as error:
            metrics.rejected.labels(str(error.status)).inc()
            logger.info("upload refused (%d) for %s: %s", error.status, request.client, error.message)
            return _error(error.status, error.message)
        started = time.perf_counter()
        stored = await run_in_threadpool(store.add_profile, service, profile)
        metrics.ingest_seconds.observe(time.perf_counter() - started)
        (metrics.profiles if stored else metrics.duplicates).inc()
        if stored:
            metrics.samples.inc(profile.total)
        gpid = hashlib.blake2b(f"{service}\0{profile.hostname}".encode(), digest_size=8).hexdigest()
        logger.info(
            "profile %s from %s/%s: %d samples, %d stacks%s",
            profile.start.isoformat(), service, profile.hostname, profile.total, len(profile.samples),
            "" if stored else " (already stored)",
        )  # fmt: skip
        return JSONResponse({"message": "ok", "gpid": gpid, "stored": stored})

    @app.post("/api/v1/logs")
    async def ingest_logs(request: Request) -> JSONResponse:
        _ingest_service(request)
        try:
            document = json.loads(inflate(await _body(request), request.headers.get("content-encoding")))
        except IngestError as error:
            return _error(error.status, error.message)
        except ValueError:
            return _error(400, "the body is not JSON")
        records = document.get("logs") if isinstance(document, dict) else None
        if not isinstance(records, list):
            return _error(400, "`logs` must be a list")
        metrics.logs.inc(len(records))
        return JSONResponse({"message": "ok", "received": len(records)})

    @app.get("/api/v1/services")
    def services(request: Request) -> dict[str, list[str]]:
        allowed = scope(request)
        names = store.services()
        return {"services": names if allowed is None else [name for name in names if name == allowed]}

    Strings = Annotated[list[str], Query()]

    @app.get("/api/v1/seen")
    def seen(
        request: Request, service: str, start: str | None = None, end: str | None = None,
        host: Strings = [], container: Strings = [], process: Strings = [],  # noqa: B006
    ) -> dict[str, Any]:  # fmt: skip
        readable(request, service)
        found = store.seen(filters(service, start, end, host, container, process))
        return {"hosts": found.hosts, "containers": found.containers, "processes": found.processes}

    @app.get("/api/v1/flamegraph", response_model=None)
    def flamegraph(
        request: Request, service: str, start: str | None = None, end: str | None = None,
        host: Strings = [], container: Strings = [], process: Strings = [],  # noqa: B006
        format: str = "tree", download: bool = False,
    ) -> dict[str, Any] | Response:  # fmt: skip
        readable(request, service)
        chosen = filters(service, start, end, host, container, process)
        stacks = store.stacks(chosen)
        if format == "collapsed":
            text = "".join(f"{stack} {count}\n" for stack, count in sorted(stacks.items()))
            return PlainTextResponse(text, headers=_attachment(f"{service}.col") if download else None)
        if format == "flat":  # what the web UI reads and draws; orjson: ~10x FastAPI's encoder
            return Response(orjson.dumps(flat_tree(drawable_stacks(stacks))), media_type="application/json")
        if format == "tree":  # every frame, whatever the depth
            tree = nested_tree_json(flat_tree(stacks))
            return Response(f'{{"tree":{tree}}}', media_type="application/json")
        if format != "html":
            raise HTTPException(400, "format is tree, flat, collapsed or html")
        narrowing = (("hosts", host), ("containers", container), ("processes", process))
        narrowed = [f"{name} {', '.join(values)}" for name, values in narrowing if values]
        page = render_html(
            flamegraph_assets(), stacks, heading=f"{service}: flame graph",
            subtitle=" · ".join([f"{chosen.start.isoformat()} to {chosen.end.isoformat()}", *narrowed]),
        )  # fmt: skip
        return HTMLResponse(page, headers=_attachment(f"{service}.html") if download else None)

    @app.get("/api/v1/timeseries")
    def timeseries(
        request: Request, service: str, start: str | None = None, end: str | None = None,
        host: Strings = [], container: Strings = [], process: Strings = [],  # noqa: B006
    ) -> dict[str, Any]:  # fmt: skip
        readable(request, service)
        points = store.timeseries(filters(service, start, end, host, container, process))
        return {
            "points": [
                {
                    "time": p.bucket.isoformat(),
                    "samples": p.samples,
                    "cpu_avg": p.cpu_avg,
                    "mem_avg": p.mem_avg,
                }
                for p in points
            ]
        }

    @app.get("/api/v1/diff")
    def diff(
        request: Request, service: str, start: str, end: str, base_start: str, base_end: str,
        host: Strings = [], container: Strings = [], process: Strings = [],  # noqa: B006
    ) -> dict[str, Any]:  # fmt: skip
        """Per-stack counts in a base range and a compared range (what a differential flame graph needs)."""
        readable(request, service)
        now = store.stacks(filters(service, start, end, host, container, process))
        before = store.stacks(filters(service, base_start, base_end, host, container, process))
        return {
            "base_total": sum(before.values()),
            "total": sum(now.values()),
            "stacks": [
                {"stack": k, "base": before.get(k, 0), "count": now.get(k, 0)}
                for k in sorted(now.keys() | before.keys())
            ],
        }

    @app.get("/api/v1/session")
    def session(request: Request) -> dict[str, Any]:
        """Who the caller is: what the UI asks first (401 means: log in)."""
        allowed = scope(request)
        return {"service": allowed, "all_services": allowed is None}

    def _page(name: str, status: int = 200, **values: str) -> HTMLResponse:
        text = assets[name].body.decode("utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", html.escape(value))
        headers = {"Cache-Control": "no-store", "Content-Security-Policy": _PAGE_POLICY}
        return HTMLResponse(text, status_code=status, headers=headers)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        try:
            scope(request)
        except HTTPException:
            query = f"?{request.url.query}" if request.url.query else ""
            next_page = ui.safe_next(request.url.path + query)
            return _page("login.html", 401, MESSAGE="", NEXT=next_page)
        return _page("index.html")

    @app.post("/ui/login")
    async def login(request: Request) -> Response:
        try:
            token, next_page = ui.login_form(await _body(request, ui.MAX_LOGIN_BODY))
        except IngestError as error:
            return _error(error.status, error.message)
        known, _ = store.token_scope(token_hash(token)) if token else (False, None)
        if not known:
            logger.info("UI login refused for %s", request.client)
            return _page("login.html", 401, MESSAGE="That token is not valid.", NEXT=next_page)
        response = RedirectResponse(next_page, status_code=303)
        response.set_cookie(
            ui.SESSION_COOKIE, sessions.issue(token_hash(token)), max_age=ui.SESSION_HOURS * 3600,
            httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/",
        )  # fmt: skip
        return response

    @app.post("/ui/logout")
    def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(ui.SESSION_COOKIE, path="/")
        return response

    @app.get("/ui/{name:path}")
    def static(name: str) -> Response:
        asset = assets.get(name)
        if asset is None or name.endswith(".html"):
            raise HTTPException(404, "no such file")
        return Response(asset.body, media_type=asset.content_type, headers={"Cache-Control": "no-cache"})

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
