"""`gprofiler perf-collapse` on a perf.data recorded by the test, compared with perf script text."""

import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import CHAIN


def _collapse(*args: str, stdin: bytes | None = None) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "gprofiler", "perf-collapse", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=True,
    )
    return result.stdout.decode().splitlines()


def test_perf_data_file_and_script_text_agree(busy_fp: Path, tmp_path: Path) -> None:
    data = tmp_path / "perf.data"
    subprocess.run(
        ["perf", "record", "-F", "199", "-g", "-o", str(data), "--", str(busy_fp), "1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    from_file = _collapse(str(data))
    script = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True, check=True).stdout
    assert _collapse("-", stdin=script) == from_file
    counts = {line.rpartition(" ")[0]: int(line.rpartition(" ")[2]) for line in from_file}
    busy_total = sum(count for stack, count in counts.items() if stack.startswith("gp_busy_fp;"))
    chained = sum(count for stack, count in counts.items() if ";".join(CHAIN) in stack)
    assert busy_total > 100
    assert chained / busy_total > 0.8
    assert from_file == sorted(from_file)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gprofiler", "perf-collapse", str(tmp_path / "nope.data")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "nope.data: no such file" in result.stderr
