"""Studio's HTTP app: gProfiler's ingest protocol, the query API and the web UI, over one Store.

Every route but the health checks, the UI's static files, the API reference and `/metrics` needs a
token (see auth.py). A service token ingests and reads its own service; an all-services token
(`token create --all`) reads everything and ingests nothing. With `anonymous_read`
(`serve --anonymous-read`) reads need no token at all; ingest still does. Every refusal is a 4xx
with a JSON `message`; a 500 (a bug) says only that, and the traceback goes to the log.
"""

import secrets

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gprofiler import __version__
from gprofiler_studio.auth import Access
from gprofiler_studio.routes import ingest, metrics, queries, ui
from gprofiler_studio.routes.context import Context, Metrics, StudioSettings, json_error, logger
from gprofiler_studio.storage.base import Store

__all__ = ["StudioSettings", "create_app"]


def create_app(store: Store, settings: StudioSettings | None = None) -> FastAPI:
    settings = settings or StudioSettings()
    access = Access(
        store.access, settings.session_key or secrets.token_bytes(32), settings.anonymous_read,
        settings.trusted_proxies,
    )  # fmt: skip
    context = Context(store, settings, Metrics(), access)
    # /docs is ui.py's page, served from the package: FastAPI's own loads Swagger UI from a CDN.
    app = FastAPI(title="gprofiler-studio", version=__version__, docs_url=None, redoc_url=None)

    @app.exception_handler(HTTPException)
    async def httpjson_error(_: Request, error: HTTPException) -> JSONResponse:
        return json_error(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg', 'invalid')}"
            for problem in error.errors()
        ]
        return json_error(422, "; ".join(problems)[:500] or "invalid request")

    @app.exception_handler(Exception)
    async def failure(request: Request, error: Exception) -> JSONResponse:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return json_error(500, "studio failed on this request (its log says why)")

    for module in (metrics, ingest, queries, ui):
        app.include_router(module.router(context))
    return app
