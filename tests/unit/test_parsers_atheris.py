"""Coverage-guided fuzzing (atheris) of the parsers of binary and line formats, for a bounded number
of runs each, from the real captures in tests/fixtures (see tests/fuzz/run_atheris.py).

The runs are seeded (-seed=1), so the test command explores the same inputs every time; longer
hunts take -max_total_time by hand. A crash is saved and named in the failure message.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_parsers_fuzz import SEEDS

ROOT = Path(__file__).resolve().parents[2]
# (runs, largest input) per target: a few seconds each here; the JFR seeds are ~110 KB
RUNS = {
    "jfr": (1000, 1 << 18),
    "perf_script": (2000, 1 << 16),
    "studio_ingest": (30000, 1 << 16),
    "elf": (60000, 1 << 16),
    "pyspy_raw": (15000, 1 << 16),
    "cgroup": (60000, 1 << 12),
}


@pytest.mark.parametrize("target", sorted(RUNS))
def test_atheris_finds_nothing(target: str, tmp_path: Path) -> None:
    corpus, artifacts = tmp_path / "corpus", tmp_path / "artifacts"
    corpus.mkdir()
    artifacts.mkdir()
    for seed in SEEDS[target]():
        (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    runs, max_len = RUNS[target]
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run_atheris", target, str(corpus), f"-runs={runs}",
         "-seed=1", f"-max_len={max_len}", f"-artifact_prefix={artifacts}/"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    crashes = sorted(artifacts.iterdir())
    assert result.returncode == 0 and not crashes, (
        f"atheris found an input {target} does not survive: {crashes} "
        f"(copy it to tests/fixtures/fuzz/{target}/)\n" + "\n".join(result.stderr.splitlines()[-40:])
    )
