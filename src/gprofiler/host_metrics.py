"""Host CPU and memory utilisation averaged over each cycle (the header's `metrics`)."""

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from gprofiler.system_info import parse_meminfo

logger = logging.getLogger(__name__)

_MEMORY_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class CpuTimes:
    busy: int
    total: int


def parse_cpu_times(proc_stat: str) -> CpuTimes:
    """The aggregate `cpu` line of /proc/stat; idle and iowait count as not busy."""
    for line in proc_stat.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
            total = sum(values[:8])
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            return CpuTimes(busy=total - idle, total=total)
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def cpu_percent(before: CpuTimes, after: CpuTimes) -> float | None:
    elapsed = after.total - before.total
    if elapsed <= 0:
        return None
    return round(100.0 * (after.busy - before.busy) / elapsed, 2)


def memory_percent(meminfo: dict[str, int]) -> float | None:
    """Used memory as psutil defines it: (MemTotal - MemAvailable) / MemTotal."""
    total, available = meminfo.get("MemTotal"), meminfo.get("MemAvailable")
    if not total or available is None:
        return None
    return round(100.0 * (total - available) / total, 2)


class HostMetricsMonitor:
    """Samples memory every few seconds in a thread; CPU comes from /proc/stat deltas per cycle."""

    def __init__(self, stop_event: threading.Event, proc_root: Path = Path("/proc")) -> None:
        self._stop_event = stop_event
        self._proc_root = proc_root
        self._memory_samples: list[float] = []
        self._lock = threading.Lock()
        self._cpu_before = self._cpu_times()
        self._thread = threading.Thread(target=self._poll_memory, name="host-metrics", daemon=True)

    def _cpu_times(self) -> CpuTimes | None:
        try:
            return parse_cpu_times((self._proc_root / "stat").read_text())
        except (OSError, ValueError):
            logger.debug("cannot read CPU times", exc_info=True)
            return None

    def _sample_memory(self) -> None:
        try:
            percent = memory_percent(parse_meminfo((self._proc_root / "meminfo").read_text()))
        except OSError:
            return
        if percent is not None:
            with self._lock:
                self._memory_samples.append(percent)

    def _poll_memory(self) -> None:
        while True:
            self._sample_memory()
            if self._stop_event.wait(_MEMORY_POLL_SECONDS):
                return

    def start(self) -> None:
        self._thread.start()

    def take(self) -> dict[str, float | None]:
        """Averages since the previous call: {"cpu_avg": %, "mem_avg": %}."""
        self._sample_memory()
        with self._lock:
            samples, self._memory_samples = self._memory_samples, []
        cpu_now = self._cpu_times()
        cpu = cpu_percent(self._cpu_before, cpu_now) if self._cpu_before and cpu_now else None
        self._cpu_before = cpu_now
        mem = round(sum(samples) / len(samples), 2) if samples else None
        return {"cpu_avg": cpu, "mem_avg": mem}
