"""Who a request is and what it may do: tokens, the web UI's sessions, CSRF checks, ingest budgets.

- A token comes in `GPROFILER-API-KEY`, `Authorization: Bearer`, `X-Token` (gProfiler's log
  batches) or, for uploads only, the protocol's `key` query parameter. Only its SHA-256 is stored.
- A web UI session is a random id in a signed, dated cookie (itsdangerous); the store keeps the
  id's hash with its token and expiry. Every request looks the session and its token up, so a
  logout, a revoked token or an expired session is refused by every studio process at once.
- State-changing UI forms (login, logout) need the same random value in a form field and in a
  SameSite=Strict cookie, and an `Origin` (or `Referer`) of this site: a page elsewhere can
  neither read the cookie nor send it with its form.
"""

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from gprofiler_studio.storage.base import AccessStore
from gprofiler_studio.tokens import TokenInfo, token_hash

logger = logging.getLogger("gprofiler_studio")

SESSION_COOKIE = "gprofiler_studio_session"
CSRF_COOKIE = "gprofiler_studio_csrf"
SESSION_HOURS = 12
MARK_USED_EVERY_S = 60  # a token's "last used" is written at most this often per process


def presented_token(request: Request, ingest: bool) -> str | None:
    for header in ("gprofiler-api-key", "x-token"):
        value = request.headers.get(header)
        if value:
            return value
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return request.query_params.get("key") if ingest else None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Access:
    store: AccessStore
    key: bytes  # signs session cookies; the data directory's, so every worker reads the others'
    anonymous_read: bool = False
    trusted_proxies: tuple[str, ...] = ()  # whose X-Forwarded-Host names this site
    _marked: dict[str, float] = field(default_factory=dict)

    def _signer(self) -> TimestampSigner:
        return TimestampSigner(self.key, salt="gprofiler-studio-session")

    # -- who is asking -----------------------------------------------------------------------

    def token(self, request: Request, ingest: bool = False) -> TokenInfo | None:
        """The caller's token (None: anonymous reading); 401 without a valid one."""
        presented = presented_token(request, ingest)
        found: TokenInfo | None = None
        if presented:  # a token that is presented must be valid, even where reading is anonymous
            found = self.store.find_token(token_hash(presented))
        elif not ingest:
            session = self._session_id(request.cookies.get(SESSION_COOKIE, ""))
            held = self.store.session_token(_digest(session), int(time.time())) if session else None
            found = self.store.find_token(held) if held else None
            if found is None and self.anonymous_read:
                return None
        if found is None:
            raise HTTPException(401, "a valid token is needed (GPROFILER-API-KEY or Authorization: Bearer)")
        self._mark_used(found)
        return found

    def scope(self, request: Request) -> str | None:
        """The one service the caller reads (None: every service)."""
        found = self.token(request)
        return None if found is None else found.service

    def readable(self, request: Request, service: str) -> None:
        allowed = self.scope(request)
        if allowed is not None and allowed != service:
            raise HTTPException(403, f"this token reads only the service {allowed!r}")

    def uploader(self, request: Request, service: str | None) -> TokenInfo:
        """The token uploading for `service`: 401 without one, 403 if it is not that service's."""
        found = self.token(request, ingest=True)
        assert found is not None  # ingest is never anonymous
        self.may_upload(found, service)
        return found

    def may_upload(self, found: TokenInfo | None, service: str | None) -> None:
        """400 without a service, 403 unless `found` is that service's token."""
        if not service:
            raise HTTPException(400, "no service name (GPROFILER-SERVICE-NAME, or the batch's metadata)")
        if found is None or found.service != service:
            raise HTTPException(403, f"this token does not upload for the service {service!r}")

    def charge(self, token: TokenInfo, size: int) -> None:
        """Count one upload against the token's budget; 429 with Retry-After once it is spent."""
        wait = self.store.charge(token.hash, int(time.time()), size, token.budget)
        if wait is not None:
            raise HTTPException(
                429, f"the ingest budget of token {token.id} is spent", headers={"Retry-After": str(wait)}
            )

    def _mark_used(self, token: TokenInfo) -> None:
        now = time.monotonic()
        if now - self._marked.get(token.hash, -MARK_USED_EVERY_S) >= MARK_USED_EVERY_S:
            self._marked[token.hash] = now
            self.store.mark_used(token.hash, int(time.time()))

    # -- sessions ----------------------------------------------------------------------------

    def _session_id(self, cookie: str) -> str | None:
        try:
            return self._signer().unsign(cookie, max_age=SESSION_HOURS * 3600).decode()
        except (SignatureExpired, BadSignature, UnicodeDecodeError):
            return None

    def start_session(self, token: TokenInfo, response: Response, secure: bool) -> None:
        session = secrets.token_urlsafe(32)
        self.store.add_session(_digest(session), token.hash, int(time.time()) + SESSION_HOURS * 3600)
        response.set_cookie(
            SESSION_COOKIE, self._signer().sign(session).decode(), max_age=SESSION_HOURS * 3600,
            httponly=True, samesite="strict", secure=secure, path="/",
        )  # fmt: skip

    def end_session(self, request: Request, response: Response) -> None:
        session = self._session_id(request.cookies.get(SESSION_COOKIE, ""))
        if session:
            self.store.end_session(_digest(session))
        response.delete_cookie(SESSION_COOKIE, path="/")

    # -- cross-site requests -----------------------------------------------------------------

    def csrf_value(self, request: Request) -> tuple[str, bool]:
        """The double-submit value for this browser's forms, and whether it is new (to be set)."""
        current = request.cookies.get(CSRF_COOKIE, "")
        if len(current) == 43 and current.isascii():
            return current, False
        return secrets.token_urlsafe(32), True

    def set_csrf_cookie(self, response: Response, value: str, secure: bool) -> None:
        response.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="strict", secure=secure, path="/")

    def check_form(self, request: Request, submitted: str) -> None:
        """403 unless the form comes from a page of this site."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie.encode(), submitted.encode()):
            raise HTTPException(403, "this form did not come from a studio page (reload the page and retry)")
        source = request.headers.get("origin") or request.headers.get("referer")
        if source is not None and urlsplit(source).netloc != self.site(request):
            logger.info("cross-site form refused: %r for %r", source[:100], self.site(request))
            raise HTTPException(403, "this form was sent from another site")

    def site(self, request: Request) -> str:
        """host[:port] this site is reached at (X-Forwarded-Host only from a trusted proxy)."""
        client = request.client.host if request.client else ""
        if client in self.trusted_proxies or "*" in self.trusted_proxies:
            forwarded = request.headers.get("x-forwarded-host")
            if forwarded:
                return forwarded.split(",")[0].strip()
        return request.headers.get("host", "")
