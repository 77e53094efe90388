"""Who may do what in studio, as a browser and an agent meet it on a real `serve`: web sessions
ended by logout and `token revoke` in every worker, cross-site forms refused, cookies `Secure`
behind a trusted proxy only, the private data directory, and a token's ingest budget (429) that
the agent waits out."""

import os
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from gprofiler_studio.tokens import token_hash
from tests.clickhouse_server import free_port
from tests.integration.conftest import AgentFiles, running, wait_for
from tests.integration.test_studio import STUDIO, Studio, _agent_args, _token


def _form(
    studio: Studio, path: str, fields: dict[str, str], cookies: dict[str, str], **headers: str
) -> tuple[int, dict[str, str]]:
    """POST a url-encoded form without following redirects: (status, cookies set)."""
    request = urllib.request.Request(
        f"{studio.url}{path}", data=urllib.parse.urlencode(fields).encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), **headers},
    )  # fmt: skip
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=30) as response:
            return response.status, _cookies(response.headers.get_all("Set-Cookie") or [])
    except urllib.error.HTTPError as error:
        return error.code, _cookies(error.headers.get_all("Set-Cookie") or [])


def _cookies(headers: list[str]) -> dict[str, str]:
    return {header.split("=", 1)[0]: header.split("=", 1)[1].split(";", 1)[0] for header in headers}


def _with_cookies(studio: Studio, path: str, cookies: dict[str, str]) -> int:
    request = urllib.request.Request(
        f"{studio.url}{path}", headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _login_page(studio: Studio) -> tuple[str, dict[str, str]]:
    try:
        urllib.request.urlopen(f"{studio.url}/", timeout=30)
    except urllib.error.HTTPError as error:  # 401: the login page
        text = error.read().decode()
        csrf = text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        return csrf, _cookies(error.headers.get_all("Set-Cookie") or [])
    raise AssertionError("the login page needs no login")


def test_logout_and_revoke_end_sessions_in_every_worker(tmp_path: Path) -> None:
    data = tmp_path / "studio"
    studio = Studio(data, free_port(), _token(data, "--service", "checkout"), _token(data, "--all"))
    studio.start("--workers", "2")
    try:
        csrf, cookies = _login_page(studio)
        origin = {"Origin": studio.url}
        status, session = _form(
            studio, "/ui/login", {"token": studio.reader, "csrf": csrf}, cookies, **origin
        )
        assert status == 303 and session.get("gprofiler_studio_session"), session
        first = {**cookies, **session}
        status, second = _form(studio, "/ui/login", {"token": studio.reader, "csrf": csrf}, cookies, **origin)
        second = {**cookies, **second}  # another browser of the same user
        assert all(
            _with_cookies(studio, "/api/v1/session", jar) == 200 for jar in (first, second) for _ in range(6)
        )
        # Logout ends that session at once, in both workers (several requests reach both).
        assert _form(studio, "/ui/logout", {"csrf": csrf}, first, **origin)[0] == 303
        assert all(_with_cookies(studio, "/api/v1/session", first) == 401 for _ in range(6))
        assert _with_cookies(studio, "/api/v1/session", second) == 200
        # Revoking the token ends every session made with it, and the token itself.
        listed = subprocess.run(
            [*STUDIO, "--data-dir", str(data), "token", "list"], capture_output=True, text=True
        )
        assert (
            listed.returncode == 0
            and studio.reader not in listed.stdout
            and studio.token not in listed.stdout
        )
        reader_id = token_hash(studio.reader)[:12]
        assert reader_id in listed.stdout and "read all services" in listed.stdout
        revoked = subprocess.run(
            [*STUDIO, "--data-dir", str(data), "token", "revoke", reader_id], capture_output=True
        )
        assert revoked.returncode == 0, revoked.stderr
        assert all(_with_cookies(studio, "/api/v1/session", second) == 401 for _ in range(6))
        assert all(studio.get("/api/v1/services", studio.reader)[0] == 401 for _ in range(6))
        assert studio.get("/api/v1/services", studio.token)[0] == 200  # the other token is untouched
    finally:
        studio.stop()


def test_cross_site_forms_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "studio"
    studio = Studio(data, free_port(), _token(data, "--service", "checkout"), _token(data, "--all"))
    studio.start()
    try:
        csrf, cookies = _login_page(studio)
        fields = {"token": studio.token, "csrf": csrf}
        assert _form(studio, "/ui/login", fields, cookies, Origin="https://evil.example")[0] == 403
        assert _form(studio, "/ui/login", fields, cookies, Referer="https://evil.example/x")[0] == 403
        assert _form(studio, "/ui/login", fields, cookies, Origin="null")[0] == 403
        # a cross-site page cannot read or send the SameSite=Strict cookie: without it, or with another value
        assert _form(studio, "/ui/login", fields, {}, Origin=studio.url)[0] == 403
        assert _form(studio, "/ui/login", {**fields, "csrf": "x" * 43}, cookies, Origin=studio.url)[0] == 403
        status, session = _form(studio, "/ui/login", fields, cookies, Origin=studio.url)
        assert status == 303 and "gprofiler_studio_session" in session
        assert _form(studio, "/ui/logout", {}, {**cookies, **session}, Origin=studio.url)[0] == 403
    finally:
        studio.stop()


def test_session_cookies_are_secure_behind_a_trusted_tls_proxy(tmp_path: Path) -> None:
    data = tmp_path / "studio"
    studio = Studio(data, free_port(), _token(data, "--service", "checkout"), _token(data, "--all"))
    for trusted, secure in (((), False), (("--trusted-proxy", "127.0.0.1"), True)):
        studio.start(*trusted)
        try:
            csrf, _ = _login_page(studio)
            request = urllib.request.Request(
                f"{studio.url}/ui/login", method="POST",
                data=urllib.parse.urlencode({"token": studio.token, "csrf": csrf}).encode(),
                headers={"Cookie": f"gprofiler_studio_csrf={csrf}", "X-Forwarded-Proto": "https",
                         "X-Forwarded-Host": "studio.example", "Origin": "https://studio.example"},
            )  # fmt: skip
            try:
                urllib.request.build_opener(_NoRedirect).open(request, timeout=30)
                raise AssertionError("no redirect after logging in")
            except urllib.error.HTTPError as answer:
                assert answer.code == (303 if secure else 403), (
                    answer.code
                )  # the Origin is only ours via the proxy
                if secure:
                    set_cookie = answer.headers.get("Set-Cookie") or ""
                    assert "gprofiler_studio_session=" in set_cookie and "Secure" in set_cookie
        finally:
            studio.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_the_data_directory_is_private_and_a_spent_budget_is_a_429_the_agent_waits_out(
    tmp_path: Path, agent: AgentFiles, busy_fp: Path
) -> None:
    data = tmp_path / "studio"
    data.mkdir(mode=0o755)  # as an operator's `mkdir` leaves it
    (data / "notes.txt").write_text("an earlier file")
    os.chmod(data / "notes.txt", 0o644)
    token = _token(data, "--service", "checkout", "--profiles-per-minute", "1")
    studio = Studio(data, free_port(), token, _token(data, "--all"))
    studio.start()
    try:
        with running(busy_fp, "60"):
            process = agent.start(*_agent_args(studio, agent))
            try:
                wait_for(lambda: len(agent.profiles()) >= 3, 60, "three cycles")
                assert len(list((agent.base / "spool").glob("*.json.gz"))) >= 1  # the budget holds them
            finally:
                process.send_signal(signal.SIGTERM)
                _, stderr = process.communicate(timeout=30)
        assert "HTTP 429" in stderr and "budget" in stderr
        assert not list((agent.base / "spool").glob("*.refused-*"))  # waited out, never set aside
        _, body = studio.get("/metrics")
        assert b'studio_uploads_rejected_total{status="429"}' in body
        assert studio.collapsed()  # the first one went through
        modes = {path.name: path.stat().st_mode & 0o777 for path in data.iterdir()}
        assert (data.stat().st_mode & 0o777) == 0o700
        assert {"studio.sqlite3", "studio.sqlite3-wal", "session.key", "notes.txt"} <= set(modes)
        assert set(modes.values()) == {0o600}, modes
    finally:
        studio.stop()
