"""Studio's web UI in Debian's headless Chromium, driven by Playwright, over a studio that a real
agent run filled (plus a second host, and an earlier hour, uploaded through the same protocol)."""

import gzip
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gprofiler.output.flamegraph import OMITTED_FRAMES
from gprofiler.output.pprof import pprof_to_col
from tests.clickhouse_server import free_port
from tests.integration.conftest import ARTIFACTS, AgentFiles, running
from tests.integration.test_studio import Studio, _post, _token
from tests.studio_upload import upload_stacks

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
OTHER_HOST = "other-host"
OTHER_FUNCTION = "other_only_work_[p]"  # only the second host (and the earlier hour) runs it
EARLIER_FUNCTION = "earlier_only_work_[p]"
NEW = "rgb(220,40,40)"  # the diff graph's color of a frame found only in B


@pytest.fixture
def filled(tmp_path: Path, agent: AgentFiles, busy_fp: Path) -> Iterator[Studio]:
    """Studio holding one real agent cycle of busy_fp from this host, a profile of another host in
    the same hour, and one of the other host two hours earlier."""
    data = tmp_path / "studio"
    studio = Studio(data, free_port(), _token(data, "--service", "checkout"), _token(data, "--all"))
    studio.start()
    try:
        upload = ["-u", "--token", studio.token, "--service-name", "checkout", "--server-host", studio.url]
        with running(busy_fp, "30"):
            result = agent.run("-d", "3", "-f", "49", *upload, "--spool-dir", str(agent.base / "spool"))
        assert result.returncode == 0, result.stderr
        now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        upload_stacks(
            studio.url,
            studio.token,
            "checkout",
            OTHER_HOST,
            now - timedelta(minutes=2),
            {f"python3;{OTHER_FUNCTION}": 20},
        )
        upload_stacks(
            studio.url,
            studio.token,
            "checkout",
            OTHER_HOST,
            now - timedelta(hours=2),
            {f"python3;{EARLIER_FUNCTION}": 100},
        )
        yield studio
    finally:
        studio.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (./dev.sh setup-test installs it)")
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


def _page(browser: Any) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    return page


def _frame(page: Any, chart: str, name: str) -> Any:
    return page.locator(f"#{chart} g[name='{name}']")


def _until(page: Any, expression: str, timeout: float = 30.0) -> None:
    """Wait for a JavaScript expression to be true. (Playwright's wait_for_function evaluates it
    with eval, which the page's Content-Security-Policy forbids, as it should.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(100)


def _widest(page: Any, name: str) -> float:
    frames = _frame(page, "flame", name)
    return max(float(frames.nth(i).locator("rect").get_attribute("width")) for i in range(frames.count()))


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _login(page: Any, studio: Studio, path: str = "/") -> None:
    page.goto(studio.url + path)
    page.fill("#token", studio.token)
    page.click("button[type=submit]")
    try:
        page.wait_for_selector("#flame svg")
    except Exception:
        _shot(page, "studio-ui-login-failed.png")
        raise AssertionError(f"no flame graph after logging in; page errors: {page.errors}") from None


def test_ui_finds_the_hot_function_filters_by_host_zooms_and_compares(filled: Studio, browser: Any) -> None:
    studio, here = filled, socket.gethostname()
    page = _page(browser)
    _login(page, studio, "/?range=1h")
    assert page.locator("#service").input_value() == "checkout"
    # The agent's program, its functions in the flame graph and first in the top functions.
    page.wait_for_selector("#flame g[name='gp_leaf']")
    for function in ("gp_busy_fp", "gp_outer", "gp_middle", "gp_leaf", OTHER_FUNCTION):
        assert _frame(page, "flame", function).count() >= 1, function
    first_row = page.locator("#top-table tbody tr").first.locator("td.fn").text_content()
    assert first_row == "gp_leaf"
    assert sorted(page.locator("#host option").all_text_contents()) == sorted([here, OTHER_HOST])
    _shot(page, "studio-ui-flamegraph.png")

    # Search: matching frames turn magenta, and the share of matching samples is shown.
    page.fill("#search", "gp_leaf")
    page.press("#search", "Enter")
    match = re.fullmatch(
        r"([\d,]+) of ([\d,]+) samples match \(([\d.]+)%\)", page.text_content("#match") or ""
    )
    assert match, page.text_content("#match")
    matched, total = (int(group.replace(",", "")) for group in match.groups()[:2])
    assert 0 < matched < total  # the other host's samples do not match
    assert _frame(page, "flame", "gp_leaf").first.locator("rect").get_attribute("fill") == "#ff00ff"
    assert "search=gp_leaf" in page.url
    _shot(page, "studio-ui-search.png")

    # Click to zoom: gp_middle then spans the whole width; reset brings the root back.
    chart_width = float(_frame(page, "flame", "all").locator("rect").get_attribute("width"))
    middles = _frame(page, "flame", "gp_middle")
    widths = [float(middles.nth(i).locator("rect").get_attribute("width")) for i in range(middles.count())]
    middles.nth(widths.index(max(widths))).locator("rect").click()
    page.wait_for_timeout(800)
    assert _widest(page, "gp_middle") == pytest.approx(chart_width, rel=0.01)
    page.click("#reset-zoom")
    page.wait_for_timeout(800)
    assert _widest(page, "gp_middle") == pytest.approx(max(widths), rel=0.01)

    # A host filter changes the graph, and the URL carries it: the link shows the same view.
    page.select_option("#host", [OTHER_HOST])
    page.wait_for_selector("#flame g[name='gp_leaf']", state="detached")
    assert _frame(page, "flame", OTHER_FUNCTION).count() == 1
    assert f"host={OTHER_HOST}" in page.url
    page.select_option("#host", [here])
    page.wait_for_selector("#flame g[name='gp_leaf']")
    assert _frame(page, "flame", OTHER_FUNCTION).count() == 0
    shared = page.url
    again = _page(browser)
    again.context.add_cookies(page.context.cookies())
    again.goto(shared)
    again.wait_for_selector("#flame g[name='gp_leaf']")
    assert _frame(again, "flame", OTHER_FUNCTION).count() == 0
    assert again.locator("#host").evaluate("s => [...s.selectedOptions].map(o => o.value)") == [here]

    # Downloads of the current view: collapsed text and the self-contained HTML page.
    collapsed = page.request.get(studio.url + page.get_attribute("#download-collapsed", "href"))
    assert collapsed.status == 200 and "gp_outer;gp_middle;gp_leaf " in collapsed.text()
    assert OTHER_FUNCTION not in collapsed.text()  # the host filter applies
    html_page = page.request.get(studio.url + page.get_attribute("#download-html", "href"))
    assert html_page.status == 200 and "d3-flame-graph" in html_page.text() and "gp_leaf" in html_page.text()
    # ... and the same view as pprof and speedscope, the host filter applied too
    pprof_file = page.request.get(studio.url + page.get_attribute("#download-pprof", "href"))
    assert pprof_file.status == 200 and "attachment" in pprof_file.headers["content-disposition"]
    pprof_stacks = pprof_to_col(pprof_file.body())
    assert "gp_outer;gp_middle;gp_leaf " in pprof_stacks and OTHER_FUNCTION not in pprof_stacks
    speedscope = page.request.get(studio.url + page.get_attribute("#download-speedscope", "href"))
    assert speedscope.status == 200 and {"name": "gp_leaf"} in speedscope.json()["shared"]["frames"]

    # Compare the last hour (B) with the hour two hours back (A): gp_leaf exists only in B (growth),
    # the earlier function only in A.
    page.fill("#search", "")
    page.press("#search", "Enter")
    page.click("#clear-filters")
    page.check("#compare-toggle")
    page.select_option("#base", "custom")
    earlier = datetime.now(timezone.utc) - timedelta(hours=2, minutes=30)
    page.fill("#base-from", (earlier.astimezone()).strftime("%Y-%m-%dT%H:%M"))
    page.dispatch_event("#base-from", "change")
    page.fill("#base-to", (earlier + timedelta(hours=1)).astimezone().strftime("%Y-%m-%dT%H:%M"))
    page.dispatch_event("#base-to", "change")
    page.wait_for_selector(f"#flame-a g[name='{EARLIER_FUNCTION}']")
    page.wait_for_selector("#flame-diff g[name='gp_leaf']")
    assert _frame(page, "flame-diff", "gp_leaf").locator("rect").get_attribute("fill") == NEW
    gone = _frame(page, "flame-diff", EARLIER_FUNCTION).locator("rect").get_attribute("fill")
    assert gone == "rgb(40,90,220)"
    assert _frame(page, "flame-b", "gp_leaf").count() == 1 and _frame(page, "flame-a", "gp_leaf").count() == 0
    _shot(page, "studio-ui-compare.png")

    # Dragging across the time-series chart narrows the time range to the span selected.
    page.uncheck("#compare-toggle")
    page.wait_for_selector("#timeseries .u-over")
    box = page.locator("#timeseries .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    _until(page, "new URLSearchParams(location.search).has('from')")
    assert page.locator("#range").input_value() == "custom"
    chosen = datetime.fromisoformat(page.evaluate("studio.state().from").replace("Z", "+00:00"))
    assert timedelta(minutes=25) < datetime.now(timezone.utc) - chosen < timedelta(minutes=35)
    assert page.errors == []


def test_ui_needs_a_token_and_says_when_studio_is_gone(filled: Studio, browser: Any) -> None:
    studio = filled
    page = _page(browser)
    refused = page.goto(studio.url + "/?range=6h")
    assert refused.status == 401 and page.locator("#token").count() == 1
    assert page.request.get(studio.url + "/api/v1/services").status == 401
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    assert "not valid" in (page.text_content(".error") or "")
    _login(page, studio, "/?range=6h")
    assert "range=6h" in page.url  # the login returns to the page asked for
    # The server goes away: the page says so in words.
    studio.stop()
    page.click("#refresh")
    page.wait_for_selector("#message.error")
    assert "unreachable" in (page.text_content("#message") or "")
    # Back, but the session cookie is forged: the page asks to log in again.
    studio.start()
    page.context.clear_cookies()
    forged = {"name": "gprofiler_studio_session", "value": "forged.value.x", "url": studio.url}
    page.context.add_cookies([forged])
    page.click("#refresh")
    _until(page, "document.querySelector('#message').textContent.includes('session has ended')")
    page.click("#message a")
    page.wait_for_selector("#token")
    assert page.errors == []


def test_ui_files_come_from_the_package_not_a_cdn(tmp_path: Path) -> None:
    data = tmp_path / "studio"
    studio = Studio(data, free_port(), _token(data, "--service", "checkout"), _token(data, "--all"))
    studio.start()
    try:
        status, page = studio.get("/", studio.reader)
        assert status == 200 and b'id="flame"' in page
        assert not re.search(rb"""(src|href)=["']https?://""", page)
        paths = re.findall(rb"""(?:src|href)=["'](/ui/[^"']+)""", page)
        assert len(paths) == 7
        for path in paths:
            assert studio.get(path.decode())[0] == 200, path
        for outside in ("/ui/../app.py", "/ui/%2e%2e/app.py", "/ui/index.html", "/ui/login.html"):
            assert studio.get(outside)[0] == 404, outside
        assert studio.get("/")[0] == 401
        huge = urllib.request.Request(f"{studio.url}/ui/login", data=b"x" * 99_999, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(huge, timeout=30)
        assert refused.value.code == 413
        # Anonymous reading when the operator turns it on; uploads still need a token.
        studio.stop()
        studio.start("--anonymous-read")
        assert studio.get("/")[0] == 200
        assert studio.get("/api/v1/services")[0] == 200
        assert studio.get("/api/v1/services", "wrong-token")[0] == 401
        stale = urllib.request.Request(
            f"{studio.url}/api/v1/services", headers={"Cookie": "gprofiler_studio_session=expired.or.forged"}
        )
        with urllib.request.urlopen(stale, timeout=30) as response:  # a stale session reads anonymously
            assert response.status == 200
        status, answer = _post(studio, gzip.compress(b"{}"), token=None)
        assert status == 401, answer
    finally:
        studio.stop()


def test_ui_draws_searches_and_compares_a_5000_frame_stack(tmp_path: Path, browser: Any) -> None:
    data = tmp_path / "studio"
    studio = Studio(data, free_port(), _token(data, "--service", "checkout"), _token(data, "--all"))
    studio.start()
    try:
        now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        deep = ";".join(["deep_proc", *(f"gp_deep_{depth}" for depth in range(5000))])
        upload_stacks(
            studio.url, studio.token, "checkout", "h", now - timedelta(minutes=2), {deep: 30, "p;q": 10}
        )
        upload_stacks(
            studio.url, studio.token, "checkout", "h", now - timedelta(minutes=75), {deep: 5, "p;q": 5}
        )
        page = _page(browser)
        _login(page, studio, "/?range=1h")
        page.wait_for_selector("#flame g[name='gp_deep_4999']")
        assert _frame(page, "flame", OMITTED_FRAMES).count() == 1
        page.fill("#search", "^gp_deep_4999$")
        page.press("#search", "Enter")
        assert (page.text_content("#match") or "").startswith("30 of 40 samples match")
        page.check("#compare-toggle")  # B: the last hour; A: the hour before it
        page.wait_for_selector("#flame-diff g[name='gp_deep_4999']")
        page.wait_for_selector("#flame-a g[name='gp_deep_4999']")
        assert page.errors == []
    finally:
        studio.stop()


def test_ui_download_page_docs_and_logout(tmp_path: Path, browser: Any) -> None:
    """The HTML download draws under its own Content-Security-Policy, /docs needs nothing from a
    CDN, and logging out ends the session for good (the old cookie is refused)."""
    data = tmp_path / "studio"
    studio = Studio(data, free_port(), _token(data, "--service", "checkout"), _token(data, "--all"))
    studio.start()
    try:
        now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        upload_stacks(studio.url, studio.token, "checkout", "h", now - timedelta(minutes=2), {"p;gp_hot": 9})
        page = _page(browser)
        outside: list[str] = []
        page.on(
            "request",
            lambda request: outside.append(request.url) if not request.url.startswith(studio.url) else None,
        )
        blocked: list[str] = []
        page.on(
            "console",
            lambda message: (
                blocked.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        _login(page, studio, "/?range=1h")
        cookies = page.context.cookies()
        html_page = page.goto(studio.url + "/api/v1/flamegraph?service=checkout&format=html")
        assert "script-src 'sha256-" in html_page.headers["content-security-policy"]
        page.wait_for_selector("#chart g[name='gp_hot']")
        page.goto(studio.url + "/docs")
        page.wait_for_selector(".swagger-ui .info .title")
        assert "gprofiler-studio" in (page.text_content(".swagger-ui .info .title") or "")
        assert page.locator(".opblock-summary-path[data-path='/api/v2/profiles']").count() == 1
        page.goto(studio.url + "/?range=1h")
        page.wait_for_selector("#flame svg")
        page.click("text=Log out")
        page.wait_for_selector("#token")
        again = browser.new_context()
        again.add_cookies(cookies)  # the cookie from before the logout, replayed
        assert again.request.get(studio.url + "/api/v1/session").status == 401
        again.close()
        assert outside == [] and blocked == [] and page.errors == []
    finally:
        studio.stop()
