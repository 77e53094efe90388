"""The flame graph file opens in a real browser, offline, and draws the program's functions."""

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gprofiler.output.flamegraph import OMITTED_FRAMES, load_assets, render_html
from tests.integration.conftest import ARTIFACTS, AgentFiles, running

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=5000",
]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed (./dev.sh setup-test installs it)")
    profile_dir = tmp_path / "chromium-profile"
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_flamegraph_renders_offline_in_chromium(agent: AgentFiles, busy_fp: Path, tmp_path: Path) -> None:
    with running(busy_fp, "30"):
        result = agent.run("-d", "3", "-f", "49")
    assert result.returncode == 0, result.stderr
    page = (agent.output / "last_flamegraph.html").resolve()
    assert "http://" not in page.read_text().split("<script", 1)[0]  # nothing to fetch before scripts
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    html = dom.stdout
    assert 'class="partition d3-flame-graph"' in html  # the chart was drawn by d3-flame-graph
    for function in ("gp_busy_fp", "main", "gp_outer", "gp_middle", "gp_leaf"):
        assert f'name="{function}"' in html, function
    searched = _chromium(tmp_path, "--dump-dom", page.as_uri() + "#search=gp_leaf").stdout
    details = searched.split('<div id="details">', 1)[1].split("</div>", 1)[0]
    match = re.fullmatch(r"search: (\d+) of (\d+) total samples \( ([\d.]+)%\)", details.strip())
    assert match, details
    assert 0 < int(match.group(1)) <= int(match.group(2))
    assert "#ff00ff" in searched.lower()  # matching frames are highlighted
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "flamegraph.png"
    _chromium(tmp_path, "--window-size=1400,900", f"--screenshot={shot}", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000


def test_deep_stacks_draw_and_search_in_chromium(tmp_path: Path) -> None:
    """5,000 frames (d3-flame-graph's recursive search overflows the browser's stack near 2,500):
    the page draws the root's and the leaf's ends around one marker, and searches them."""
    deep = ";".join(["deep_proc", *(f"gp_frame_{depth}" for depth in range(5000))])
    page = tmp_path / "deep.html"
    page.write_text(
        render_html(load_assets(), {deep: 40, "other;gp_other_leaf": 10}, heading="deep", subtitle="")
    )
    searched = _chromium(tmp_path, "--dump-dom", page.as_uri() + "#search=gp_frame_4999").stdout
    assert 'class="partition d3-flame-graph"' in searched
    for name in (
        "gp_frame_0",
        "gp_frame_510",
        OMITTED_FRAMES,
        "gp_frame_4489",
        "gp_frame_4999",
        "gp_other_leaf",
    ):
        assert f'name="{html.escape(name)}"' in searched, name
    assert 'name="gp_frame_511"' not in searched and 'name="gp_frame_4488"' not in searched
    details = searched.split('<div id="details">', 1)[1].split("</div>", 1)[0]
    assert re.fullmatch(r"search: 40 of 50 total samples \( 80(\.0+)?%\)", details.strip()), details
