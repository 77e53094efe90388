#!/usr/bin/env python3
"""Studio's web UI: page load and flame-graph render time for a profile of 20,000 distinct stacks,
measured in the browser (Debian's headless Chromium, driven by Playwright).

Studio (`serve`, embedded store) gets one profile of `--stacks` distinct stacks, 10-40 frames each
with names from real perf and py-spy output (as bench_studio builds them), uploaded through the
agent protocol. Each of `--runs` page loads is timed from navigation start with the page's own
marks (studio.js): the tree JSON requested, received, and the flame graph plus the top-functions
table drawn. Target: drawn within 1 s.

Baseline, same run: the agent's self-contained flame graph file of the same stacks (d3-flame-graph
alone, data inlined, nothing fetched), timed from navigation start to the chart's first frame.
"""

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from playwright.sync_api import sync_playwright  # noqa: E402
from tests.clickhouse_server import free_port  # noqa: E402
from tests.studio_upload import upload_stacks  # noqa: E402

from bench_studio import stack_pool, vocabulary  # noqa: E402
from gprofiler.output.flamegraph import load_assets, render_html  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
STUDIO = [sys.executable, "-m", "gprofiler_studio.cli"]
MARKS = "() => Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))"
TREE_FETCH = (
    "() => performance.getEntriesByType('resource').filter(r => r.name.includes('/api/v1/flamegraph'))"
    ".map(r => [r.requestStart, r.responseStart, r.responseEnd, r.encodedBodySize])[0]"
)


def summary(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[max(0, int(len(values) * 0.95) - 1)]
    return f"median {statistics.median(values):.0f} ms, p95 {p95:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stacks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    rng = random.Random(3)
    stacks = Counter({stack: rng.randint(1, 50) for stack in stack_pool(vocabulary(), args.stacks, seed=5)})
    directory = Path(tempfile.mkdtemp(prefix="gprofiler-bench-ui-", dir="/var/tmp"))
    data = directory / "studio"
    token = subprocess.run([*STUDIO, "--data-dir", str(data), "token", "create", "--service", "bench"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    port = free_port()
    server = subprocess.Popen([*STUDIO, "--data-dir", str(data), "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        started = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=2)
        upload_stacks(url, token, "bench", "bench-host", started, stacks, timeout=120)
        static = directory / "flamegraph.html"
        static.write_text(render_html(load_assets(), stacks, heading="bench", subtitle=""))
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/")
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.wait_for_selector("#flame svg")
            drawn, received, server_ms, static_ms = [], [], [], []
            for _ in range(args.runs):
                page.goto(f"{url}/?service=bench&range=1h")
                page.wait_for_selector("#flame svg g", timeout=60_000)
                while not page.evaluate("performance.getEntriesByName('flamegraph-drawn').length"):
                    page.wait_for_timeout(20)
                marks = page.evaluate(MARKS)
                fetch = page.evaluate(TREE_FETCH)
                drawn.append(marks["flamegraph-drawn"])
                received.append(marks["flamegraph-drawn"] - marks["flamegraph-received"])
                server_ms.append(fetch[1] - fetch[0])
                tree_bytes = fetch[3]
                studio_frames = page.evaluate("document.querySelectorAll('#flame g').length")
            for _ in range(args.runs):
                page.goto(static.as_uri())
                page.wait_for_selector("#chart svg g")
                # The file draws in an inline script, before DOMContentLoaded ends.
                static_ms.append(
                    page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
                )
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)
    print(
        f"profile: {len(stacks)} distinct stacks, {sum(stacks.values())} samples; "
        f"flat tree JSON {tree_bytes / 1e6:.1f} MB; the page draws {studio_frames} frames "
        "(it lays out the 5,000 widest)"
    )
    print(f"studio page, navigation start to flame graph and top functions drawn: {summary(drawn)}")
    print("  (target <= 1000 ms)")
    print(f"  of which studio answering the tree (request to first byte): {summary(server_ms)}")
    print(f"  of which drawing (and the top functions), once the tree is parsed: {summary(received)}")
    print(f"baseline, the agent's self-contained flame graph file of the same stacks: {summary(static_ms)}")
    print(f"ratio studio page / file: {statistics.median(drawn) / statistics.median(static_ms):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
