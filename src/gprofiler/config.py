"""The agent's settings as one typed value, built from the parsed command line."""

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the profilers are imported by the command line, not by whoever reads settings
    from gprofiler.profilers.registry import AnySpec

# Options whose values stay out of the profile header's `run_arguments`.
_PRIVATE_OPTIONS: frozenset[str] = frozenset({"token"})


@dataclass(frozen=True)
class ServerConfig:
    """The studio and how to reach it."""

    server_host: str
    token: str
    service_name: str
    timeout: int
    verify: bool

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> "ServerConfig":
        return cls(
            args.server_host.rstrip("/"),
            args.token,
            args.service_name,
            args.server_upload_timeout,
            args.verify,
        )


@dataclass(frozen=True)
class UploadConfig:
    server: ServerConfig
    api_server: str  # where logs go
    send_logs: bool
    spool_dir: Path
    spool_max_bytes: int


@dataclass(frozen=True)
class ProfilerChoice:
    """A profiler's mode and its options dataclass, as parsed."""

    mode: str
    options: Any


@dataclass(frozen=True)
class AgentConfig:
    output_dir: Path | None
    upload: UploadConfig | None
    duration: int
    frequency: int
    continuous: bool
    rotating_output: bool
    flamegraph: bool
    output_formats: tuple[str, ...]
    max_processes_runtime_profiler: int | None  # None: no limit
    pids: tuple[int, ...] | None
    containers: tuple[str, ...] | None
    container_names: bool
    container_runtime_socket: str | None
    k8s_pod_labels: bool
    pid_file: str
    disable_core_files: bool
    pid_ns_check: bool
    proc_root: str | None
    log_file: str
    log_rotate_max_size: int
    log_rotate_backup_count: int
    verbose: bool
    app_identifiers: bool
    profilers: Mapping[str, ProfilerChoice]  # by profiler name, every profiler of profilers/all.py
    run_arguments: dict[str, Any]

    @classmethod
    def from_namespace(cls, args: argparse.Namespace, specs: "Sequence[AnySpec]") -> "AgentConfig":
        run_arguments = {
            key: value for key, value in sorted(vars(args).items()) if key not in _PRIVATE_OPTIONS
        }
        upload = None
        if args.upload_results:
            server = ServerConfig.from_namespace(args)
            upload = UploadConfig(
                server=server,
                api_server=(args.api_server or server.server_host).rstrip("/"),
                send_logs=args.send_logs,
                spool_dir=Path(args.spool_dir),
                spool_max_bytes=args.spool_max_size * 1024 * 1024,
            )
        return cls(
            output_dir=Path(args.output_dir) if args.output_dir else None,
            upload=upload,
            duration=args.duration,
            frequency=args.frequency,
            continuous=args.continuous,
            rotating_output=args.rotating_output,
            flamegraph=args.flamegraph,
            output_formats=args.output_formats,
            max_processes_runtime_profiler=args.max_processes_runtime_profiler or None,
            pids=tuple(dict.fromkeys(args.pids)) if args.pids else None,
            containers=tuple(dict.fromkeys(args.containers)) if args.containers else None,
            container_names=args.container_names,
            container_runtime_socket=args.container_runtime_socket,
            k8s_pod_labels=args.k8s_pod_labels,
            pid_file=args.pid_file,
            disable_core_files=args.disable_core_files,
            pid_ns_check=args.pid_ns_check,
            proc_root=args.proc_root,
            log_file=args.log_file,
            log_rotate_max_size=args.log_rotate_max_size,
            log_rotate_backup_count=args.log_rotate_backup_count,
            verbose=args.verbose,
            app_identifiers=args.app_identifiers,
            profilers={
                spec.name: ProfilerChoice(getattr(args, spec.mode_dest), spec.options_from(args))
                for spec in specs
            },
            run_arguments=run_arguments,
        )
