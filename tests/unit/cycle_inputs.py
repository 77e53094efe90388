"""One cycle's inputs built from captured tool output (tests/fixtures), for the cycle function's tests.

perf's stacks are the agent's `perf script` fields on three captures (native targets with hostile
names, a busy Python process, a node started with --perf-basic-prof); the Python process's py-spy
output of the same seconds; a JVM only JFR saw; a process whose runtime profiler failed and one
whose profiler failed while perf saw nothing of it.
"""

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.containers import ContainerRef
from gprofiler.discovery.procfs import ProcessInfo
from gprofiler.discovery.runtimes import JAVA, NODEJS, PYTHON
from gprofiler.profilers.base import RuntimeResult
from gprofiler.profilers.java.jfr_reader import read_samples
from gprofiler.profilers.python.profiler import parse_pyspy_raw
from gprofiler.stacks.model import PidStacks
from gprofiler.stacks.perf_script import collapse_perf_script

FIXTURES = Path(__file__).parent.parent / "fixtures"
PYTHON_PID, NODE_PID, DD_PID, BUSY_PID, TRICKY_PID = 16788, 16904, 5402, 5363, 5367
JVM_PID, GONE_PID = 31000, 31001  # no perf samples: only their runtime profiler saw them
START = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc)
END = datetime(2026, 12, 1, 10, 1, 0, tzinfo=timezone.utc)
METADATA: dict[str, Any] = {"hostname": "fixture-host", "agent_version": "0.0.0", "run_mode": "test"}
METRICS: dict[str, float | None] = {"cpu_avg": 12.5, "mem_avg": 40.25}
CONTAINER_IDS = {PYTHON_PID: "a" * 64, NODE_PID: "b" * 64, JVM_PID: "a" * 64}
CONTAINER_NAMES = {"a" * 64: "web-1", "b" * 64: "k8s_api_api-7f9_prod_0f0e-11_0"}


def perf_stacks() -> PidStacks:
    stacks: PidStacks = {}
    for name in ("perf_script/mixed_agent.txt", "merge/perf_busy_python.txt", "node/perf_node.txt"):
        stacks.update(collapse_perf_script([(FIXTURES / name).read_bytes()]).stacks)
    return stacks


def runtime_results() -> dict[int, RuntimeResult]:
    pyspy = parse_pyspy_raw((FIXTURES / "merge/pyspy_busy.txt").read_text(), "python3")
    jfr = read_samples((FIXTURES / "jfr/busy.jfr").read_bytes())
    java: Counter[tuple[str, ...]] = Counter()
    for stack, count in jfr.stacks["jdk.ExecutionSample"].items():
        stacked = ("java", *stack)
        java[stacked] += count
    return {
        PYTHON_PID: RuntimeResult("python3", stacks=pyspy, metadata={"python_version": "3.11.2"}),
        JVM_PID: RuntimeResult("java", stacks=java, metadata={"java_version": "17.0.15"}),
        TRICKY_PID: RuntimeResult("tricky_names", error="py-spy exited with code 1: no; such\nthing"),
        GONE_PID: RuntimeResult("gone", error="process exited", error_label="Profiling skipped"),
    }


def _process(
    pid: int, comm: str, runtime: str | None, appid: str | None, meta: dict[str, Any] | None
) -> DiscoveredProcess:
    container = ContainerRef(CONTAINER_IDS[pid], "docker") if pid in CONTAINER_IDS else None
    info = ProcessInfo(
        pid=pid, nspid=pid, comm=comm, exe=f"/usr/bin/{comm}", cmdline=(comm,), start_time=pid, uid=0
    )
    return DiscoveredProcess(info, runtime, appid, meta, container)


def processes() -> dict[int, DiscoveredProcess]:
    found = [
        _process(
            PYTHON_PID, "python3", PYTHON, "python: busy.py (/tmp/gp-fixture/busy.py)", {"exe": "python3"}
        ),
        _process(NODE_PID, "node", NODEJS, "node: /tmp/gp-fixture/busy.js", None),
        _process(JVM_PID, "java", JAVA, "java: Busy", {"exe": "java"}),
        _process(DD_PID, "dd", None, None, {"exe": "dd"}),
        _process(TRICKY_PID, "tricky_names", None, None, None),
    ]
    return {process.pid: process for process in found}


def container_names(known: dict[int, DiscoveredProcess]) -> dict[int, str]:
    return {pid: CONTAINER_NAMES[p.container.id] for pid, p in known.items() if p.container is not None}
