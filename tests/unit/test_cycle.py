"""The cycle function on captured tool output (tests/unit/cycle_inputs.py).

The `.col` files in tests/fixtures/cycle were written by the agent's cycle code as it was before the
cycle became one pure function (loop._finish_cycle and RuntimeCoordinator.combine, same inputs, same
seed): the function must write them byte for byte. One change was made to them by hand since: the
JavaScript frame takes the one form every Node.js mode now writes (`gpLeaf file:line_[js]`).
"""

import json
import random
from collections.abc import Mapping
from pathlib import Path

import pytest

from gprofiler.cycle import CycleInput, CycleRules, build_profile, pods_in, with_pod_labels
from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.runtimes import NODEJS
from gprofiler.output.collapsed import display_stacks, read_header
from gprofiler.profile import profile_from_collapsed
from gprofiler.profilers.nodejs.profiler import mark_js_frames
from gprofiler.stacks.model import StackCounts
from tests.unit import cycle_inputs as ci

GOLDEN = ci.FIXTURES / "cycle"


def _node_rewrite(process: DiscoveredProcess, counts: StackCounts) -> StackCounts:
    return mark_js_frames(counts)


def _cycle(**changes: object) -> CycleInput:
    processes = ci.processes()
    values: dict[str, object] = {
        "start_time": ci.START,
        "end_time": ci.END,
        "perf_stacks": ci.perf_stacks(),
        "results": ci.runtime_results(),
        "processes": processes,
        "container_names": ci.container_names(processes),
        "metadata": {**ci.METADATA, "profiling_mode": "cpu"},
        "metrics": ci.METRICS,
    }
    values.update(changes)
    return CycleInput(**values)  # type: ignore[arg-type]


def _rules(app_identifiers: bool = True, only: tuple[str, ...] | None = None) -> CycleRules:
    return CycleRules(app_identifiers, True, only, {NODEJS: _node_rewrite})


def _lines(text: str) -> list[str]:
    return text.split("\n")[1:-1]


@pytest.mark.parametrize(("name", "app_identifiers", "only"), [
    ("all", True, None),
    ("no_appids", False, None),
    ("only_web", True, ("web-1",)),
])  # fmt: skip
def test_writes_what_the_agent_wrote_before(
    name: str, app_identifiers: bool, only: tuple[str, ...] | None
) -> None:
    profile = build_profile(_cycle(), _rules(app_identifiers, only), random.Random(7))
    assert profile.collapsed == (GOLDEN / f"{name}.col").read_text()
    assert profile.samples == sum(int(line.rsplit(" ", 1)[1]) for line in _lines(profile.collapsed))
    # the flame graph drawn from the model is the one drawn from the text
    assert profile.display_stacks() == display_stacks(profile.collapsed)


def test_runtime_stacks_replace_perfs_on_perfs_scale() -> None:
    profile = build_profile(_cycle(), _rules(), random.Random(1))
    perf_total = sum(ci.perf_stacks()[ci.PYTHON_PID].values())
    python = profile.stacks[ci.PYTHON_PID]
    assert perf_total == 32
    assert abs(sum(python.values()) - perf_total) <= len(python)  # probabilistic rounding, per stack
    assert all(frame.endswith("_[p]") for stack in python for frame in stack[2:])
    # the JVM perf never saw keeps JFR's own counts
    assert sum(profile.stacks[ci.JVM_PID].values()) == sum(ci.runtime_results()[ci.JVM_PID].stacks.values())  # type: ignore[union-attr]


def test_error_frames_and_app_ids_follow_the_process_name() -> None:
    profile = build_profile(_cycle(), _rules(), random.Random(1))
    tricky = profile.stacks[ci.TRICKY_PID]
    assert {stack[1] for stack in tricky} == {
        "[Profiling error: py-spy exited with code 1: no\\x3b such\\nthing]"
    }
    assert sum(tricky.values()) == sum(ci.perf_stacks()[ci.TRICKY_PID].values())  # perf's stacks kept
    assert dict(profile.stacks[ci.GONE_PID]) == {("gone", "[Profiling skipped: process exited]"): 1}
    assert {stack[1] for stack in profile.stacks[ci.PYTHON_PID]} == {
        "appid: python: busy.py (/tmp/gp-fixture/busy.py)"
    }
    assert all(not stack[1].startswith("appid") for stack in profile.stacks[ci.DD_PID])  # no app id known


def test_node_frames_are_marked_through_the_runtime_rewrite() -> None:
    marked = build_profile(_cycle(), _rules(), random.Random(1)).stacks[ci.NODE_PID]
    unmarked = build_profile(_cycle(), CycleRules(True, True), random.Random(1)).stacks[ci.NODE_PID]
    assert any(frame.endswith("_[js]") for stack in marked for frame in stack)
    assert not any(frame.endswith("_[js]") for stack in unmarked for frame in stack)


def test_header() -> None:
    profile = build_profile(_cycle(), _rules(), random.Random(1))
    header = read_header(profile.collapsed)
    assert header == profile.header
    assert header["containers"] == ["k8s_api_api-7f9_prod_0f0e-11_0", "web-1"]
    assert header["metadata"]["hostname"] == profile.hostname == "fixture-host"
    table = header["application_metadata"]
    assert table[0] is None
    assert table[profile.app_index_of[ci.PYTHON_PID]] == {"exe": "python3", "python_version": "3.11.2"}
    assert profile.app_index_of[ci.TRICKY_PID] == 0
    assert (header["start_time"], header["end_time"]) == (ci.START.isoformat(), ci.END.isoformat())
    assert header["metrics"] == ci.METRICS


def test_container_filter_keeps_only_wanted_and_unknown_processes() -> None:
    profile = build_profile(_cycle(), _rules(only=("web-1",)), random.Random(1))
    # web-1's processes, and PIDs discovery does not know (exited ones perf followed into web-1)
    assert set(profile.stacks) == {ci.PYTHON_PID, ci.JVM_PID, ci.GONE_PID} | (
        set(ci.perf_stacks()) - set(ci.processes())
    )
    assert profile.header["containers"] == ["web-1"]
    kubernetes = build_profile(
        _cycle(), _rules(only=("api",)), random.Random(1)
    )  # a k8s container's own name
    assert ci.NODE_PID in kubernetes.stacks and ci.PYTHON_PID not in kubernetes.stacks


def test_the_same_seed_gives_the_same_profile_and_inputs_are_not_changed() -> None:
    cycle = _cycle()
    before = {pid: dict(counts) for pid, counts in cycle.perf_stacks.items()}
    first = build_profile(cycle, _rules(), random.Random(3)).collapsed
    assert build_profile(cycle, _rules(), random.Random(3)).collapsed == first
    assert {pid: dict(counts) for pid, counts in cycle.perf_stacks.items()} == before


def test_an_empty_cycle_is_a_header_alone() -> None:
    cycle = _cycle(perf_stacks={}, results={}, processes={}, container_names={})
    profile = build_profile(cycle, _rules(), random.Random(1))
    assert profile.samples == 0
    assert _lines(profile.collapsed) == []
    assert json.loads(profile.collapsed[2:])["application_metadata"] == [None]


def test_pod_labels_go_into_the_metadata_of_the_profiles_pods() -> None:
    profile = build_profile(_cycle(), _rules(), random.Random(1))
    assert pods_in(profile) == [("prod", "api-7f9")]
    labels: Mapping[str, Mapping[str, str]] = {"prod/api-7f9": {"app": "api"}}
    labelled = with_pod_labels(profile, labels)
    assert labelled.header["metadata"]["k8s_pod_labels"] == {"prod/api-7f9": {"app": "api"}}
    assert list(labelled.header["metadata"])[-1] == "k8s_pod_labels"
    assert _lines(labelled.collapsed) == _lines(profile.collapsed)
    assert "k8s_pod_labels" not in profile.header["metadata"]


def test_a_col_text_read_back_writes_the_same_text(tmp_path: Path) -> None:
    for golden in sorted(GOLDEN.glob("*.col")):
        text = golden.read_text()
        profile = profile_from_collapsed(text, start_time=ci.START, end_time=ci.END)
        assert profile.collapsed == text
        assert profile.display_stacks() == display_stacks(text)
