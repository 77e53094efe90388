"""The agent's and studio's pprof and speedscope files opened by the real tools: `go tool pprof` (Go
from the setup) and speedscope's own importer in headless Chromium; a Go program's own CPU profile
converted to `.col` and back, and uploaded to studio."""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
from playwright import sync_api as playwright_api

from gprofiler.output.frames import split_frame
from tests.integration.conftest import PYTHON, ROOT, TARGETS, AgentFiles, parse_profile, running
from tests.integration.test_studio import Studio
from tests.studio_upload import upload_stacks

GPROFILER = [sys.executable, "-m", "gprofiler"]
SPEEDSCOPE = ROOT / "node_modules" / "speedscope" / "dist" / "release"
CHROMIUM = "/usr/bin/chromium"
_ROW = re.compile(r"^\s*(\d+)\s+([\d.]+)%\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+(.+)$")


def _go_env(base: Path) -> dict[str, str]:
    return {**os.environ, "GOCACHE": str(base / "go-cache"), "GOPATH": str(base / "gopath"),
            "HOME": str(base), "PPROF_TMPDIR": str(base / "pprof")}  # fmt: skip


def go_pprof(base: Path, *args: str | Path) -> str:
    """`go tool pprof ARGS` (the real one, from the Go toolchain); its standard output."""
    if shutil.which("go") is None:
        pytest.fail("go is not installed (./dev.sh setup-test installs golang-go)")
    result = subprocess.run(
        ["go", "tool", "pprof", *map(str, args)],
        capture_output=True,
        text=True,
        env=_go_env(base),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def top(base: Path, profile: Path) -> tuple[dict[str, int], dict[str, float], int]:
    """`-top` by sample count: each function's flat count and flat %, and the total."""
    output = go_pprof(base, "-top", "-sample_index=samples", "-nodecount=100000", "-nodefraction=0", profile)
    total = int(re.search(r"of (\d+) total", output).group(1))  # type: ignore[union-attr]
    flat, share = {}, {}
    for line in output.splitlines():
        row = _ROW.match(line)
        if row:
            flat[row.group(4)] = int(row.group(1))
            share[row.group(4)] = float(row.group(2))
    return flat, share, total


def convert(*args: str | Path) -> None:
    result = subprocess.run(
        [*GPROFILER, "convert", *map(str, args)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def _leaf_shares(col: Path) -> tuple[Counter[str], int]:
    """Samples by leaf function (the name pprof gives it) in a `.col`, and the total."""
    stacks = parse_profile(col).stacks
    leaves: Counter[str] = Counter()
    for stack, count in stacks.items():
        leaves[split_frame(stack[-1]).name] += count
    return leaves, sum(stacks.values())


def test_go_tool_pprof_reads_the_agents_profile(agent: AgentFiles, tmp_path: Path) -> None:
    script = tmp_path / "gp_pprof_busy.py"
    shutil.copy(TARGETS / "busy.py", script)
    with running(PYTHON, script, "30"):
        result = agent.run("-d", "4", "--output-format", "col,pprof,speedscope")
    assert result.returncode == 0, result.stderr
    col, pprof = agent.output / "last_profile.col", agent.output / "last_profile.pb.gz"
    assert (agent.output / "last_profile.speedscope.json").exists()
    flat, share, total = top(tmp_path, pprof)
    leaves, col_total = _leaf_shares(col)
    assert total == col_total
    assert leaves["gp_leaf"] > 0.5 * 4 * 11
    # every function's share of the samples as pprof shows it is the .col's
    for function, count in leaves.most_common(10):
        assert flat[function] == count
        assert abs(share[function] - 100 * count / col_total) <= 1.0
    # -list: the Python function's file, its lines and their samples
    listing = go_pprof(tmp_path, "-list", "^gp_leaf$", "-sample_index=samples", pprof)
    assert f"ROUTINE ======================== gp_leaf in {script}" in listing
    source = script.read_text().splitlines()
    numbered = [line for line in listing.splitlines() if re.match(r"^\s+\S+\s+\S+\s+\d+:", line)]
    assert any(source[12] in line for line in numbered)  # the loop (line 13) has samples
    # -tags: the process and the app id
    tags = go_pprof(tmp_path, "-tags", "-sample_index=samples", pprof)
    assert "process:" in tags and "python3" in tags
    assert f"python: {script} ({script})" in tags


def test_go_tool_pprof_shows_container_labels_of_a_real_cycle(tmp_path: Path) -> None:
    # a cycle the agent wrote with containers (checked in: no container runtime runs here)
    col = tmp_path / "cycle.col"
    shutil.copy(ROOT / "tests" / "fixtures" / "cycle" / "all.col", col)
    convert(col)
    tags = go_pprof(tmp_path, "-tags", "-sample_index=samples", tmp_path / "cycle.pb.gz")
    assert re.search(r"container: Total \d+ of \d+", tags), tags
    assert "web-1" in tags and "k8s_api_api-7f9_prod_0f0e-11_0" in tags


@pytest.fixture(scope="module")
def go_selfprofile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("go-selfprofile")
    output = base / "gp_selfprofile"
    subprocess.run(
        ["go", "build", "-o", str(output), str(TARGETS / "go_selfprofile" / "main.go")],
        check=True, env=_go_env(base), timeout=300,
    )  # fmt: skip
    return output


def test_a_go_programs_own_cpu_profile_converts_to_col_and_back(go_selfprofile: Path, tmp_path: Path) -> None:
    original = tmp_path / "cpu.pb.gz"
    subprocess.run([go_selfprofile, "3", original], check=True, timeout=60)
    convert(original, "-o", tmp_path / "cpu.col", "--hostname", "go-host")
    convert(tmp_path / "cpu.col", "--to", "pprof", "-o", tmp_path / "again.pb.gz")
    flat, _, total = top(tmp_path, original)
    again_flat, _, again_total = top(tmp_path, tmp_path / "again.pb.gz")
    leaves, col_total = _leaf_shares(tmp_path / "cpu.col")
    assert total == col_total == again_total > 100
    assert {name: count for name, count in flat.items() if count} == {
        name: count for name, count in again_flat.items() if count
    }
    assert leaves["main.gpLeaf"] == flat["main.gpLeaf"] > 0.5 * total
    header = parse_profile(tmp_path / "cpu.col").header
    assert header["metadata"] == {"hostname": "go-host", "source": "pprof"}


@contextmanager
def _serving(directory: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_speedscope_opens_the_agents_file(agent: AgentFiles, tmp_path: Path) -> None:
    if not (SPEEDSCOPE / "index.html").exists():
        pytest.fail("speedscope is missing from node_modules (./dev.sh setup installs it)")
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (./dev.sh setup-test installs it)")
    script = tmp_path / "gp_speedscope_busy.py"
    shutil.copy(TARGETS / "busy.py", script)
    with running(PYTHON, script, "30") as target:
        # only the target: speedscope opens the file's first profile (the busiest), which on an idle
        # machine is the idle task's
        result = agent.run("-d", "3", "--output-format", "speedscope", "--pids", str(target.pid))
    assert result.returncode == 0, result.stderr
    written = agent.output / "last_profile.speedscope.json"
    document = json.loads(written.read_text())
    jsonschema.validate(document, json.loads((SPEEDSCOPE / "file-format-schema.json").read_text()))
    assert document["profiles"][0]["name"].startswith(f"python3 (python: {script}")
    site = tmp_path / "site"
    shutil.copytree(SPEEDSCOPE, site)
    shutil.copy(written, site / "profile.json")
    with _serving(site) as url, playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        messages: list[tuple[str, str]] = []
        page.on("console", lambda message: messages.append((message.type, message.text)))
        page.on("pageerror", lambda error: messages.append(("pageerror", str(error))))
        page.goto(f"{url}/index.html#profileURL={url}/profile.json")
        page.get_by_text("Sandwich").first.click()
        page.get_by_text("gp_leaf", exact=True).first.wait_for(timeout=30_000)
        table = page.inner_text("body")
        browser.close()
    assert ("log", "Importing as speedscope json file") in messages
    assert not [message for message in messages if message[0] in ("error", "pageerror")], messages
    for function in ("gp_leaf", "gp_middle", "gp_outer"):
        assert function in table


def test_studio_serves_any_view_as_pprof_and_speedscope(studio: Studio, tmp_path: Path) -> None:
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    stacks = {"python3;appid: python: app.py (/srv/app.py);gp_outer (/srv/app.py:22)_[p];"
              "gp_leaf (/srv/app.py:11)_[p]": 30, "java;Busy.main_[j];Busy.leaf_[j]": 10,
              "dd;read;vfs_read_[k]": 5}  # fmt: skip
    upload_stacks(studio.url, studio.token, "checkout", "h1", now - timedelta(minutes=3), stacks)
    window = {"start": (now - timedelta(minutes=10)).isoformat(), "end": now.isoformat()}
    status, body = studio.get(
        "/api/v1/flamegraph", studio.reader, service="checkout", format="pprof", download="1", **window
    )
    assert status == 200
    (tmp_path / "view.pb.gz").write_bytes(body)
    flat, _, total = top(tmp_path, tmp_path / "view.pb.gz")
    assert total == 45 and flat["gp_leaf"] == 30 and flat["Busy.leaf"] == 10 and flat["vfs_read"] == 5
    tags = go_pprof(tmp_path, "-tags", "-sample_index=samples", tmp_path / "view.pb.gz")
    assert "python: app.py (/srv/app.py)" in tags and "java" in tags
    status, body = studio.get(
        "/api/v1/flamegraph", studio.reader, service="checkout", format="speedscope", **window
    )
    assert status == 200
    document = json.loads(body)
    jsonschema.validate(document, json.loads((SPEEDSCOPE / "file-format-schema.json").read_text()))
    assert {"name": "gp_leaf", "file": "/srv/app.py", "line": 11} in document["shared"]["frames"]
    status, _ = studio.get("/api/v1/flamegraph", studio.reader, service="checkout", format="svg", **window)
    assert status == 400


def _post_pprof(studio: Studio, body: bytes, **params: str) -> int:
    query = urllib.parse.urlencode({"service": "checkout", "format": "pprof", **params})
    request = urllib.request.Request(f"{studio.url}/api/v2/profiles?{query}", data=body, method="POST")
    request.add_header("GPROFILER-API-KEY", studio.token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_studio_takes_a_go_programs_pprof(studio: Studio, go_selfprofile: Path, tmp_path: Path) -> None:
    profile = tmp_path / "cpu.pb.gz"
    subprocess.run([go_selfprofile, "2", profile], check=True, timeout=60)
    _, _, total = top(tmp_path, profile)
    assert _post_pprof(studio, profile.read_bytes()) == 400  # no hostname
    assert _post_pprof(studio, b"\x1f\x8b garbage", hostname="go-host") == 400
    assert _post_pprof(studio, profile.read_bytes(), hostname="go-host") == 200
    stacks = studio.collapsed(host="go-host")
    assert sum(stacks.values()) == total
    leaf = sum(count for stack, count in stacks.items() if stack.split(";")[-1].startswith("main.gpLeaf ("))
    assert leaf > 0.5 * total
    assert all(stack.startswith("gp_selfprofile;runtime.main (") for stack in stacks if "main.main" in stack)
