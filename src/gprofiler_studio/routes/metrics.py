"""What operators and orchestrators read without a token: health checks and Prometheus metrics."""

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gprofiler_studio.routes.context import Context


def router(context: Context) -> APIRouter:
    routes = APIRouter()

    @routes.get("/api/v1/health_check")
    @routes.get("/healthz")
    def health_check() -> dict[str, str]:
        return {"message": "ok"}

    @routes.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return routes
