"""Commands that profile nothing import no profiler (they start fast and load less into memory)."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("command", "own_module"), [
    ("upload-file", "gprofiler.commands.upload_file"),
    ("perf-collapse", "gprofiler.commands.perf_collapse"),
])  # fmt: skip
def test_commands_that_do_not_profile_import_no_profiler(command: str, own_module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gprofiler", command, "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = result.stderr.splitlines()
    modules = {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")}
    assert own_module in modules  # the listing is the real one
    assert sorted(module for module in modules if module.startswith("gprofiler.profilers")) == []


def test_the_agent_imports_every_profiler() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gprofiler", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "gprofiler.profilers.python.profiler" in result.stderr
    assert "gprofiler.profilers.java.profiler" in result.stderr
