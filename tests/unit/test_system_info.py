from pathlib import Path

from gprofiler.host_metrics import cpu_percent, memory_percent, parse_cpu_times
from gprofiler.system_info import kubernetes_metadata, parse_cpu_model, parse_meminfo, parse_os_release

HOST = Path(__file__).resolve().parent.parent / "fixtures" / "host"


def test_os_release() -> None:
    fields = parse_os_release((HOST / "os-release").read_text())
    assert fields["NAME"] == "Debian GNU/Linux"
    assert fields["VERSION_ID"] == "12"
    assert fields["VERSION_CODENAME"] == "bookworm"


def test_cpu_model_and_memory() -> None:
    assert parse_cpu_model((HOST / "cpuinfo").read_text()) == "AMD EPYC"
    meminfo = parse_meminfo((HOST / "meminfo").read_text())
    assert meminfo["MemTotal"] == 24683656
    percent = memory_percent(meminfo)
    assert percent is not None and 0 < percent < 100


def test_cpu_percent_over_two_snapshots() -> None:
    before = parse_cpu_times((HOST / "stat_before").read_text())
    after = parse_cpu_times((HOST / "stat_after").read_text())
    percent = cpu_percent(before, after)
    # one of two CPUs spun for the two seconds between the snapshots
    assert percent is not None and 45 <= percent <= 55
    assert cpu_percent(after, after) is None


def test_memory_percent_needs_both_fields() -> None:
    assert memory_percent({"MemTotal": 100}) is None
    assert memory_percent({"MemTotal": 100, "MemAvailable": 25}) == 75.0


def test_node_name_only_inside_a_kubernetes_pod() -> None:
    assert kubernetes_metadata({"NODE_NAME": "n1"}) == {}
    assert kubernetes_metadata({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) == {}
    assert kubernetes_metadata({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "NODE_NAME": "n1"}) == {
        "k8s_node_name": "n1"
    }
