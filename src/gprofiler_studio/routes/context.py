"""What every router of one studio app shares."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as Metric

from gprofiler_studio.auth import Access
from gprofiler_studio.ingest import IngestError
from gprofiler_studio.storage.base import Store

logger = logging.getLogger("gprofiler_studio")

DEFAULT_MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class StudioSettings:
    max_body_bytes: int = DEFAULT_MAX_BODY
    # signs the web UI's session cookies; None: a key of this process only (tests, one worker)
    session_key: bytes | None = None
    anonymous_read: bool = False
    retention: timedelta = timedelta(days=7)  # profiles starting earlier are refused (422)
    trusted_proxies: tuple[str, ...] = ()  # addresses whose X-Forwarded-Proto/-Host are believed


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.profiles = Metric("studio_profiles_ingested", "Profiles stored", registry=self.registry)
        self.duplicates = Metric(
            "studio_profiles_duplicate", "Profiles received again", registry=self.registry
        )
        self.conflicts = Metric(
            "studio_profiles_conflicting",
            "Profiles with the identity of a stored one but other content (the first is kept)",
            registry=self.registry,
        )
        self.samples = Metric("studio_samples_ingested", "Samples stored", registry=self.registry)
        self.rejected = Metric(
            "studio_uploads_rejected", "Uploads refused", ["status"], registry=self.registry
        )
        self.logs = Metric("studio_agent_log_records", "Agent log records received", registry=self.registry)
        self.ingest_seconds = Histogram(
            "studio_ingest_seconds", "Time to store one profile", registry=self.registry
        )


@dataclass
class Context:
    store: Store
    settings: StudioSettings
    metrics: Metrics
    access: Access


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """Every refusal studio answers: the status and a JSON `message`."""
    return JSONResponse({"message": message}, status_code=status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, IngestError(413) as soon as it is over `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise IngestError(413, f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise IngestError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
