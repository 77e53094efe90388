import json
import re

from gprofiler.output.flamegraph import load_assets, render_html


def test_page_inlines_libraries_and_data_safely() -> None:
    assets = load_assets()
    hostile = "</script><script>alert(1)</script>"
    page = render_html(assets, {f"evil;{hostile}": 1}, heading="gprofiler: <host>", subtitle="1 samples")
    assert "{{" not in page.replace("${", "")  # every placeholder filled
    assert "d3js.org v7" in page  # d3 inlined, nothing fetched from the network
    assert "flamegraph" in page
    assert "<script>alert(1)" not in page
    assert "gprofiler: &lt;host&gt;" in page
    assert not re.search(r"<script[^>]+src=", page)
    data = page.split('<script id="profile-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    flat = json.loads(data)
    assert flat["names"] == ["all", "evil", hostile] and flat["parent"] == [-1, 0, 1]
