"""What agents call: gProfiler's v2 profile upload and the agents' log batches.

Both our agent and a stock gProfiler (1.51) are served. Their requests differ:
- profiles: both send `GPROFILER-API-KEY` and `GPROFILER-SERVICE-NAME`, and the `key`, `service`,
  `hostname`, `timestamp`, `version` query parameters, and a gzipped JSON body;
- log batches: ours carry the same headers; gProfiler's (its glogger `Sender`) authenticate with
  `X-Token`, name themselves `X-Application-Name: gprofiler` and carry the service in the body's
  `metadata.service_name` (with `run_id`, `gprofiler_version`, `hostname`) and a `lost_logs_count`.
Other tools' profiles come as `?format=pprof&hostname=H` with a pprof body (Go's net/http/pprof, a
py-spy or `gprofiler convert` output), under the same token and service.
"""

import hashlib
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gprofiler_studio.ingest import IngestError, inflate, parse_pprof_upload, parse_upload
from gprofiler_studio.model import Outcome
from gprofiler_studio.routes.context import Context, json_error, logger, read_body

MAX_FUTURE = timedelta(days=1)  # clocks drift; a profile later than this is a bug or a forgery


def _json_body(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI `requestBody` of a route that reads its (gzipped) JSON body itself."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_PROFILE_BODY = _json_body(
    ["start_time", "end_time", "hostname", "profile"],
    {
        "start_time": {"type": "string", "format": "date-time"},
        "end_time": {"type": "string", "format": "date-time"},
        "hostname": {"type": "string"},
        "profile": {"type": "string", "description": "the whole .col text"},
        "cpu_avg": {"type": ["number", "null"]},
        "mem_avg": {"type": ["number", "null"]},
        "spawn_time": {"type": "string"},
        "gpid": {"type": "string"},
    },
)
_LOGS_BODY = _json_body(
    ["logs"],
    {"batch_id": {"type": "string"}, "metadata": {"type": "object"}, "logs": {"type": "array", "items": {}}},
)


def router(context: Context) -> APIRouter:
    routes = APIRouter()
    metrics, access, settings = context.metrics, context.access, context.settings

    @routes.post("/api/v2/profiles", openapi_extra=_PROFILE_BODY)
    async def ingest_profile(
        request: Request, service: str | None = None, format: str = "v2", hostname: str | None = None
    ) -> JSONResponse:
        service = request.headers.get("gprofiler-service-name") or service
        try:
            token = access.uploader(request, service)
            body, encoding = (
                await read_body(request, settings.max_body_bytes),
                request.headers.get("content-encoding"),
            )
            access.charge(token, len(body))
            now = datetime.now(timezone.utc)
            window = (now - settings.retention, now + MAX_FUTURE)
            if format not in ("v2", "pprof"):
                raise IngestError(400, "format is v2 (gProfiler's JSON document) or pprof")
            # Decoding takes ~15 ms of CPU: off the event loop, which keeps answering meanwhile.
            if format == "pprof":
                profile = await run_in_threadpool(
                    lambda: parse_pprof_upload(inflate(body, encoding), hostname, window)
                )
            else:
                profile = await run_in_threadpool(lambda: parse_upload(inflate(body, encoding), window))
        except IngestError as error:
            metrics.rejected.labels(str(error.status)).inc()
            logger.info("upload refused (%d) for %s: %s", error.status, request.client, error.message)
            return json_error(error.status, error.message)
        except Exception as error:  # HTTPException: counted, then answered by the app's handler
            metrics.rejected.labels(str(getattr(error, "status_code", 500))).inc()
            raise
        assert service is not None  # uploader() refused a request without one
        started = time.perf_counter()
        outcome = await run_in_threadpool(context.store.add_profile, service, profile)
        metrics.ingest_seconds.observe(time.perf_counter() - started)
        if outcome is Outcome.STORED:
            metrics.profiles.inc()
            metrics.samples.inc(profile.total)
        elif outcome is Outcome.DUPLICATE:
            metrics.duplicates.inc()
        else:
            metrics.conflicts.inc()
            logger.warning(
                "profile %s from %s/%s has the identity of a stored one but other content: the first is kept",
                profile.start.isoformat(), service, profile.hostname,
            )  # fmt: skip
        gpid = hashlib.blake2b(f"{service}\0{profile.hostname}".encode(), digest_size=8).hexdigest()
        logger.info(
            "profile %s from %s/%s: %d samples, %d stacks (%s)",
            profile.start.isoformat(), service, profile.hostname, profile.total, len(profile.samples),
            outcome.value,
        )  # fmt: skip
        return JSONResponse({"message": "ok", "gpid": gpid, "stored": outcome is Outcome.STORED})

    @routes.post("/api/v1/logs", openapi_extra=_LOGS_BODY)
    async def ingest_logs(request: Request, service: str | None = None) -> JSONResponse:
        token = access.token(request, ingest=True)  # 401 before reading a body
        try:
            document = _json(inflate(await read_body(request, settings.max_body_bytes),
                                     request.headers.get("content-encoding")))  # fmt: skip
        except IngestError as error:
            return json_error(error.status, error.message)
        metadata = document.get("metadata")
        named = metadata.get("service_name") if isinstance(metadata, dict) else None
        service = (
            request.headers.get("gprofiler-service-name")
            or service
            or (named if isinstance(named, str) else None)
        )
        access.may_upload(token, service)
        records = document.get("logs")
        if not isinstance(records, list):
            return json_error(400, "`logs` must be a list")
        metrics.logs.inc(len(records))
        return JSONResponse({"message": "ok", "received": len(records)})

    return routes


def _json(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the json module goes
        raise IngestError(400, "the body is not JSON (or nests too deep)") from None
    if not isinstance(document, dict):
        raise IngestError(400, "the body must be a JSON object")
    return document
