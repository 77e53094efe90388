"""The JSON API the web UI (and anyone with a token) reads: services, flame graphs, time series, diffs.

Every route takes the same narrowing, parsed once by `QueryFilters`: a service, a time range
(ISO-8601 or epoch seconds; the last hour by default) and repeatable host, container and process
filters, which reach SQL only as bound parameters.
"""

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from gprofiler.output import pprof, speedscope
from gprofiler.output.flamegraph import (
    FlamegraphAssets,
    drawable_stacks,
    flamegraph_policy,
    flat_tree,
    load_assets,
    nested_tree_json,
    render_html,
)
from gprofiler_studio.model import Filters
from gprofiler_studio.routes.context import Context

DEFAULT_RANGE = timedelta(hours=1)
# Times a query may name: anything else is a typo (or a probe), and datetime arithmetic on year 1
# or 9999 overflows.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(3000, 1, 1, tzinfo=timezone.utc)
Strings = Annotated[list[str], Query()]


def parse_time(value: str | None, default: datetime) -> datetime:
    """ISO-8601 (UTC when no offset is given) or epoch seconds; 400 for anything else."""
    if not value:
        return default
    try:
        if value.isascii() and value.replace(".", "", 1).isdigit():
            moment = datetime.fromtimestamp(float(value), timezone.utc)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = (
                parsed.replace(tzinfo=timezone.utc)
                if parsed.tzinfo is None
                else parsed.astimezone(timezone.utc)
            )
    except (ValueError, OverflowError, OSError):
        raise HTTPException(400, f"not a time (ISO-8601 or epoch seconds): {value[:40]!r}") from None
    if not EARLIEST <= moment <= LATEST:
        raise HTTPException(400, f"time out of range (1970 to 3000): {value[:40]!r}")
    return moment


@dataclass(frozen=True)
class Narrowing:
    service: str
    start: str | None
    end: str | None
    host: list[str]
    container: list[str]
    process: list[str]

    def filters(self) -> Filters:
        until = parse_time(self.end, datetime.now(timezone.utc))
        since = parse_time(self.start, max(EARLIEST, until - DEFAULT_RANGE))
        if not since < until:
            raise HTTPException(400, "start must be before end")
        return Filters(
            self.service, since, until, tuple(self.host), tuple(self.container), tuple(self.process)
        )


def narrowing(
    service: str, start: str | None = None, end: str | None = None,
    host: Strings = [], container: Strings = [], process: Strings = [],  # noqa: B006
) -> Narrowing:  # fmt: skip
    return Narrowing(service, start, end, host, container, process)


Narrowed = Annotated[Narrowing, Depends(narrowing)]


def _attachment(filename: str) -> dict[str, str]:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
    return {"Content-Disposition": f'attachment; filename="{safe}"'}


FORMATS = ("tree", "flat", "collapsed", "html", "pprof", "speedscope")


def _converted(
    format: str, chosen: Narrowing, filters: Filters, stacks: Mapping[str, int], download: bool
) -> Response:
    """The view as pprof (gzipped profile.proto) or speedscope JSON (gprofiler/output/): stacks
    merged over hosts and containers, so their samples carry the process and app id labels only."""
    lines = [pprof.split_stack(stack, count) for stack, count in sorted(stacks.items())]
    name = f"{chosen.service} {filters.start.isoformat()} to {filters.end.isoformat()}"
    if format == "pprof":
        header = {"start_time": filters.start.isoformat(), "end_time": filters.end.isoformat(),
                  "metadata": {"service": chosen.service, "hosts": chosen.host,
                               "containers": chosen.container, "processes": chosen.process}}  # fmt: skip
        body, media, suffix = pprof.to_pprof(header, lines), "application/octet-stream", ".pb.gz"
    else:
        body, media, suffix = speedscope.to_speedscope(lines, name), "application/json", ".speedscope.json"
    return Response(
        body, media_type=media, headers=_attachment(chosen.service + suffix) if download else None
    )


def _page(
    assets: FlamegraphAssets,
    policy: str,
    chosen: Narrowing,
    filters: Filters,
    stacks: Mapping[str, int],
    download: bool,
) -> HTMLResponse:
    """The flame graph as a self-contained page, under the UI's content security policy."""
    narrowed = [
        f"{name} {', '.join(values)}"
        for name, values in (
            ("hosts", chosen.host),
            ("containers", chosen.container),
            ("processes", chosen.process),
        )
        if values
    ]
    page = render_html(
        assets, stacks, heading=f"{chosen.service}: flame graph",
        subtitle=" · ".join([f"{filters.start.isoformat()} to {filters.end.isoformat()}", *narrowed]),
    )  # fmt: skip
    headers = {"Content-Security-Policy": policy}
    if download:
        headers.update(_attachment(f"{chosen.service}.html"))
    return HTMLResponse(page, headers=headers)


def router(context: Context) -> APIRouter:
    routes = APIRouter()
    store, access = context.store, context.access
    # the downloadable flame graph page's template and libraries, and its policy: made on the first
    # download, kept
    flamegraph_assets = functools.cache(load_assets)
    page_policy = functools.cache(lambda: flamegraph_policy(flamegraph_assets()))

    def readable(request: Request, chosen: Narrowing) -> Filters:
        access.readable(request, chosen.service)
        return chosen.filters()

    @routes.get("/api/v1/services")
    def services(request: Request) -> dict[str, list[str]]:
        allowed = access.scope(request)
        names = store.services()
        return {"services": names if allowed is None else [name for name in names if name == allowed]}

    @routes.get("/api/v1/seen")
    def seen(request: Request, chosen: Narrowed) -> dict[str, Any]:
        found = store.seen(readable(request, chosen))
        return {"hosts": found.hosts, "containers": found.containers, "processes": found.processes}

    @routes.get("/api/v1/flamegraph", response_model=None)
    def flamegraph(
        request: Request, chosen: Narrowed, format: str = "tree", download: bool = False
    ) -> Response:
        filters = readable(request, chosen)
        if format not in FORMATS:
            raise HTTPException(400, f"format is {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
        stacks = store.stacks(filters)
        if format == "collapsed":
            text = "".join(f"{stack} {count}\n" for stack, count in sorted(stacks.items()))
            return PlainTextResponse(text, headers=_attachment(f"{chosen.service}.col") if download else None)
        if format in ("pprof", "speedscope"):
            return _converted(format, chosen, filters, stacks, download)
        if format == "flat":  # what the web UI reads and draws; orjson: ~10x FastAPI's encoder
            return Response(orjson.dumps(flat_tree(drawable_stacks(stacks))), media_type="application/json")
        if format == "tree":  # every frame, whatever the depth
            return Response(
                f'{{"tree":{nested_tree_json(flat_tree(stacks))}}}', media_type="application/json"
            )
        return _page(flamegraph_assets(), page_policy(), chosen, filters, stacks, download)

    @routes.get("/api/v1/timeseries")
    def timeseries(request: Request, chosen: Narrowed) -> dict[str, Any]:
        points = store.timeseries(readable(request, chosen))
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

    @routes.get("/api/v1/diff")
    def diff(request: Request, chosen: Narrowed, base_start: str, base_end: str) -> dict[str, Any]:
        """Per-stack counts in a base range and a compared range (what a differential flame graph needs)."""
        now = store.stacks(readable(request, chosen))
        base = Narrowing(chosen.service, base_start, base_end, chosen.host, chosen.container, chosen.process)
        before = store.stacks(base.filters())
        return {
            "base_total": sum(before.values()),
            "total": sum(now.values()),
            "stacks": [
                {"stack": k, "base": before.get(k, 0), "count": now.get(k, 0)}
                for k in sorted(now.keys() | before.keys())
            ],
        }

    @routes.get("/api/v1/session")
    def session(request: Request) -> dict[str, Any]:
        """Who the caller is: what the UI asks first (401 means: log in)."""
        allowed = access.scope(request)
        return {"service": allowed, "all_services": allowed is None}

    return routes
