"""The web UI: its pages and files, login and logout, and the API reference page (/docs).

Pages run only scripts studio serves (Content-Security-Policy); the login and logout forms carry
the double-submit value auth.py checks, with an Origin of this site.
"""

import html

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gprofiler_studio import ui
from gprofiler_studio.ingest import IngestError
from gprofiler_studio.routes.context import Context, logger, read_body
from gprofiler_studio.tokens import token_hash

# The UI's pages run only the scripts studio serves; d3-flame-graph adds a <style> element.
PAGE_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def router(context: Context) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    access = context.access
    assets = ui.load_assets()

    def secure(request: Request) -> bool:
        # https, as uvicorn sees it: X-Forwarded-Proto counts only from --trusted-proxy addresses
        return request.url.scheme == "https"

    def page(request: Request, name: str, status: int = 200, **values: str) -> HTMLResponse:
        csrf, new = access.csrf_value(request)
        text = assets[name].body.decode("utf-8")
        for key, value in {**values, "CSRF": csrf}.items():
            text = text.replace("{{" + key + "}}", html.escape(value))
        headers = {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_POLICY}
        response = HTMLResponse(text, status_code=status, headers=headers)
        if new:
            access.set_csrf_cookie(response, csrf, secure(request))
        return response

    def login_page(request: Request, message: str, next_page: str) -> HTMLResponse:
        return page(request, "login.html", 401, MESSAGE=message, NEXT=next_page)

    @routes.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        try:
            access.scope(request)
        except HTTPException:
            query = f"?{request.url.query}" if request.url.query else ""
            return login_page(request, "", ui.safe_next(request.url.path + query))
        return page(request, "index.html")

    async def checked_form(request: Request) -> dict[str, str]:
        """The fields of a form from one of studio's pages (403 otherwise, 413 when too large)."""
        try:
            fields = ui.form_fields(await read_body(request, ui.MAX_LOGIN_BODY))
        except IngestError as error:
            raise HTTPException(error.status, error.message) from None
        access.check_form(request, fields.get("csrf", ""))
        return fields

    @routes.post("/ui/login")
    async def login(request: Request) -> Response:
        fields = await checked_form(request)
        token, next_page = fields.get("token", "").strip(), ui.safe_next(fields.get("next", "/"))
        found = context.store.access.find_token(token_hash(token)) if token else None
        if found is None:
            logger.info("UI login refused for %s", request.client)
            return login_page(request, "That token is not valid.", next_page)
        response = RedirectResponse(next_page, status_code=303)
        access.start_session(found, response, secure(request))
        return response

    @routes.post("/ui/logout")
    async def logout(request: Request) -> Response:
        await checked_form(request)
        response = RedirectResponse("/", status_code=303)
        access.end_session(request, response)
        return response

    @routes.get("/docs", response_class=HTMLResponse)
    def docs(request: Request) -> HTMLResponse:
        return page(request, "docs.html")

    @routes.get("/ui/{name:path}")
    def static(name: str) -> Response:
        asset = assets.get(name)
        if asset is None or name.endswith(".html"):
            raise HTTPException(404, "no such file")
        return Response(asset.body, media_type=asset.content_type, headers={"Cache-Control": "no-cache"})

    return routes
