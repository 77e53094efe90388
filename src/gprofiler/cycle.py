"""One cycle's profile from what was collected: a pure function, no I/O, no clock, no profiler calls.

    perf's stacks ─▶ runtime rewrites (`_[js]`) ─▶ merge runtime results ─▶ app ids ─▶ container filter
                 ─▶ header (metadata table, containers) ─▶ CycleProfile

The loop gathers the inputs (perf's snapshot, the runtime profilers' results, discovery's facts,
container names, metadata, metrics) and hands the result to the sinks.
"""

import dataclasses
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.container_names import matches
from gprofiler.discovery.k8s_pods import pod_of
from gprofiler.output.collapsed import metadata_table, profile_header
from gprofiler.profile import CycleProfile
from gprofiler.profilers.base import RuntimeResult
from gprofiler.stacks.escaping import escape_frame
from gprofiler.stacks.merge import insert_after_comm, merge_runtime_results
from gprofiler.stacks.model import PidStacks, StackCounts

logger = logging.getLogger(__name__)

PerfRewrite = Callable[[DiscoveredProcess, StackCounts], StackCounts]


@dataclass(frozen=True)
class CycleRules:
    """What stays the same from cycle to cycle."""

    app_identifiers: bool = True
    container_names_enabled: bool = False
    only_containers: tuple[str, ...] | None = None  # --containers
    perf_rewrites: Mapping[str, PerfRewrite] = field(default_factory=dict)  # by runtime


@dataclass(frozen=True)
class CycleInput:
    """Everything one cycle collected."""

    start_time: datetime
    end_time: datetime
    perf_stacks: PidStacks
    results: Mapping[int, RuntimeResult]  # the runtime profilers', by PID
    processes: Mapping[int, DiscoveredProcess]  # discovery's facts on the PIDs in the profile
    container_names: Mapping[int, str]  # by PID, for processes in a named container
    metadata: Mapping[str, Any]  # the header's `metadata` (static facts and this cycle's)
    metrics: Mapping[str, float | None]  # cpu_avg, mem_avg


def build_profile(cycle: CycleInput, rules: CycleRules, rng: random.Random) -> CycleProfile:
    """The cycle's profile: perf's stacks as each runtime wants them, runtime stacks merged in on
    perf's scale, app id frames, only the wanted containers, and gProfiler's header."""
    stacks = _merged(cycle, rules, rng)
    if rules.app_identifiers:
        stacks = insert_after_comm(stacks, _appid_frames(cycle.processes, stacks))
    if rules.only_containers is not None:
        # Processes known to be elsewhere go; exited ones perf followed stay, since perf only
        # follows the wanted containers' processes and their children.
        elsewhere = {
            pid
            for pid in cycle.processes
            if not matches(cycle.container_names.get(pid, ""), rules.only_containers)
        }
        stacks = {pid: counts for pid, counts in stacks.items() if pid not in elsewhere}
    table, index_of = metadata_table(_metadata_by_pid(stacks, cycle.processes, cycle.results))
    containers = {cycle.container_names[pid] for pid in stacks if cycle.container_names.get(pid)}
    header = profile_header(
        metadata=cycle.metadata,
        metrics=cycle.metrics,
        start_time=cycle.start_time,
        end_time=cycle.end_time,
        containers=containers,
        container_names_enabled=rules.container_names_enabled,
        application_metadata=table,
    )
    return CycleProfile(
        start_time=cycle.start_time,
        end_time=cycle.end_time,
        header=header,
        stacks=stacks,
        container_of={pid: name for pid, name in cycle.container_names.items() if pid in stacks},
        app_index_of=index_of,
        hostname=str(cycle.metadata.get("hostname", "")),
        metrics=dict(cycle.metrics),
    )


def pods_in(profile: CycleProfile) -> list[tuple[str, str]]:
    """The Kubernetes pods (namespace, name) of the profile's containers."""
    return [pod for pod in map(pod_of, profile.header["containers"]) if pod is not None]


def with_pod_labels(profile: CycleProfile, labels: Mapping[str, Mapping[str, str]]) -> CycleProfile:
    """The profile with `k8s_pod_labels` ({"namespace/pod": labels}) in its header's metadata."""
    header = {**profile.header, "metadata": {**profile.header["metadata"], "k8s_pod_labels": dict(labels)}}
    return dataclasses.replace(profile, header=header)


def _merged(cycle: CycleInput, rules: CycleRules, rng: random.Random) -> PidStacks:
    rewritten: PidStacks = {}
    for pid, counts in cycle.perf_stacks.items():
        process = cycle.processes.get(pid)
        rewrite = rules.perf_rewrites.get(process.runtime or "") if process else None
        rewritten[pid] = rewrite(process, counts) if rewrite and process else counts
    merged = merge_runtime_results(rewritten, dict(cycle.results), rng)
    if logger.isEnabledFor(logging.DEBUG):
        for pid, result in cycle.results.items():
            if result.stacks:
                logger.debug(
                    "pid %d (%s): perf %d samples, runtime %d samples, merged %d",
                    pid,
                    result.comm,
                    sum(cycle.perf_stacks.get(pid, {}).values()),
                    sum(result.stacks.values()),
                    sum(merged[pid].values()),
                )
    return merged


def _appid_frames(processes: Mapping[int, DiscoveredProcess], stacks: PidStacks) -> dict[int, str]:
    return {
        pid: f"appid: {escape_frame(p.appid)}" for pid, p in processes.items() if p.appid and pid in stacks
    }


def _metadata_by_pid(
    stacks: PidStacks, processes: Mapping[int, DiscoveredProcess], results: Mapping[int, RuntimeResult]
) -> dict[int, dict[str, Any] | None]:
    """Discovery's metadata of each profiled process, plus what its runtime profiler learned."""
    metadata: dict[int, dict[str, Any] | None] = {}
    for pid in stacks:
        known = processes[pid].metadata if pid in processes else None
        learned = results[pid].metadata if pid in results else None
        metadata[pid] = {**(known or {}), **(learned or {})} or None
    return metadata
