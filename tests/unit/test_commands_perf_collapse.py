"""perf-collapse on checked-in perf script text gives exactly the reviewed expected lines."""

import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "perf_script"


@pytest.mark.parametrize("name", ["mixed_default.txt", "mixed_agent.txt"])
def test_fixture_collapses_to_expected_lines(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gprofiler", "perf-collapse", "-"],
        input=(FIXTURES / name).read_bytes(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.decode() == (FIXTURES / "mixed.collapsed").read_text()
    assert result.stderr == b""
