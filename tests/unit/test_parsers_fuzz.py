"""Property tests of every parser that reads bytes a target, a container or a client controls.

Inputs are real captures from this machine (tests/fixtures) cut, spliced and sprinkled with what
breaks parsers (separators, newlines, Unicode line separators, unicode digits, NULs, invalid UTF-8),
plus arbitrary bytes. Each target's promise is in tests/fuzz/targets.py. Past findings are replayed
from tests/fixtures/fuzz/<target>/ on every run. The budget is bounded (FUZZ_EXAMPLES per target).
"""

import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gprofiler.output.pprof import col_to_pprof
from tests.fuzz.targets import TARGETS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FINDINGS = FIXTURES / "fuzz"
FUZZ_EXAMPLES = int(os.environ.get("GPROFILER_FUZZ_EXAMPLES", "300"))
# The test command runs the same inputs every time (a failure there is a change in the code, not
# luck); GPROFILER_FUZZ_EXPLORE=1 draws new ones, to look for findings by hand.
EXPLORE = os.environ.get("GPROFILER_FUZZ_EXPLORE") == "1"
HOSTILE = [b";", b"\n", b" ", b"\t", b":", b"/", b"(", b")", b"[", b"]", b"{", b"}", b'"', b"\\", b"0",
           b"9", b"\x00", b"\xff", b"\xc3", "²".encode(), "\u2028".encode(), "\u0661".encode(), b"\r",
           b"-", b".", b"=", b"_[p]", b"0x", b" 1\n", b";;", b"\x1c", b"\x85",
           # what replaces a line's count: digits int() refuses or reads as other numbers, signs, huge
           " ²\n".encode(), " \u0661\n".encode(), b" -1\n", b" 0\n", b" 99999999999999999999\n", b" 1e3\n",
           b" \n", b"\n\n"]  # fmt: skip


def _files(*patterns: str) -> list[bytes]:
    return [path.read_bytes() for pattern in patterns for path in sorted(FIXTURES.glob(pattern))]


def _upload() -> bytes:
    text = (FIXTURES / "profiles" / "cycle.col").read_text()
    document = {"start_time": "2026-12-01T08:00:00", "end_time": "2026-12-01T08:01:00", "hostname": "h",
                "profile": text, "cpu_avg": 3.0, "mem_avg": 40.0}  # fmt: skip
    return gzip.compress(json.dumps(document).encode())


SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "perf_script": lambda: _files("perf_script/*.txt", "merge/perf_*.txt", "node/perf_node.txt"),
    "pyspy_raw": lambda: _files("merge/pyspy_busy.txt"),
    "async_profiler": lambda: [
        b"java.lang.Thread.run;com.example.Busy.work;com.example.Busy.leaf 42\n"
        b"java.lang.Thread.run;Interpreter_[i];[unknown_Java] 3\n"
    ],
    "jfr": lambda: _files("jfr/*.jfr"),
    "cgroup": lambda: _files("cgroup/*.txt"),
    "proc_files": lambda: _files("proc/*"),
    "runtime_json": lambda: _files("containers/*.json"),
    "python_packages": lambda: [
        b"Metadata-Version: 2.1\nName: flask\nVersion: 3.0.0\n\nbody\n",
        b'flask/__init__.py,sha256=abc,123\nflask/app.py,,\n"a,b.py",,\n',
    ],
    "small_formats": lambda: [*_files("node/net_tcp_inspector"), b"0\n", b"-1\nerror\n"],
    "elf": lambda: [Path("/usr/bin/true").read_bytes()],
    "studio_ingest": lambda: [_upload()],
    # a real Go CPU profile, and the agent's cycle as pprof (gzipped and raw: the parser sees both)
    "pprof_upload": lambda: [
        (FIXTURES / "pprof" / "go_cpu.pb.gz").read_bytes(),
        gzip.decompress((FIXTURES / "pprof" / "go_cpu.pb.gz").read_bytes()),
        gzip.decompress(col_to_pprof((FIXTURES / "cycle" / "all.col").read_text())),
    ],
}


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed (or nothing) with a few spans cut out and hostile bytes spliced in."""
    data = bytearray(draw(st.sampled_from([*seeds, b""])))
    if draw(st.booleans()) and len(data) > 2 * 1024 * 1024:
        data = data[: draw(st.integers(0, len(data)))]
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, min(64, len(data) - at)))
        insert = draw(st.lists(st.sampled_from(HOSTILE) | st.binary(max_size=8), max_size=4))
        data[at : at + cut] = b"".join(insert)
    return bytes(data)


def _inputs(target: str) -> st.SearchStrategy[bytes]:
    return mutated(SEEDS[target]()) | st.binary(max_size=512)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_parser_keeps_its_promise_on_hostile_input(target: str) -> None:
    @given(data=_inputs(target))
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=not EXPLORE,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    def check(data: bytes) -> None:
        TARGETS[target](data)

    check()


def test_every_target_has_seeds_and_past_findings_replay() -> None:
    assert set(SEEDS) == set(TARGETS)
    for target, seeds in SEEDS.items():
        assert seeds(), target
        for data in seeds():
            TARGETS[target](data)
    findings = sorted(FINDINGS.glob("*/*"))
    for finding in findings:
        assert finding.parent.name in TARGETS, finding
        TARGETS[finding.parent.name](finding.read_bytes())
