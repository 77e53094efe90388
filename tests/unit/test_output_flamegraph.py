import json
import re

from gprofiler.output.flamegraph import build_tree, load_assets, render_html


def test_tree_values_are_totals() -> None:
    tree = build_tree([(["p", "main", "a"], 3), (["p", "main", "b"], 2), (["q"], 1)])
    assert tree["n"] == "all" and tree["v"] == 6
    p = next(child for child in tree["c"] if child["n"] == "p")
    assert p["v"] == 5
    main = p["c"][0]
    assert {child["n"]: child["v"] for child in main["c"]} == {"a": 3, "b": 2}
    assert "c" not in main["c"][0]


def test_page_inlines_libraries_and_data_safely() -> None:
    assets = load_assets()
    hostile = "</script><script>alert(1)</script>"
    page = render_html(
        assets, build_tree([(["evil", hostile], 1)]), heading="gprofiler: <host>", subtitle="1 samples"
    )
    assert "{{" not in page.replace("${", "")  # every placeholder filled
    assert "d3js.org v7" in page  # d3 inlined, nothing fetched from the network
    assert "flamegraph" in page
    assert "<script>alert(1)" not in page
    assert "gprofiler: &lt;host&gt;" in page
    assert not re.search(r"<script[^>]+src=", page)
    data = page.split('<script id="profile-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["c"][0]["c"][0]["n"] == hostile
