"""The agent's settings as one typed value, built from the parsed command line."""

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gprofiler.profilers.registry import registered

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
class AgentConfig:
    output_dir: Path | None
    upload: UploadConfig | None
    duration: int
    frequency: int
    continuous: bool
    rotating_output: bool
    flamegraph: bool
    perf_mode: str
    perf_dwarf_stack_size: int
    perf_path: str | None
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
    profiler_modes: dict[str, str]  # registered profiler name -> mode
    profiler_options: dict[str, Any]  # every registered profiler option, by dest
    run_arguments: dict[str, Any]

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> "AgentConfig":
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
            perf_mode=args.perf_mode,
            perf_dwarf_stack_size=args.perf_dwarf_stack_size,
            perf_path=args.perf_path,
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
            profiler_modes={spec.name: getattr(args, spec.mode_dest) for spec in registered()},
            profiler_options={
                dest: getattr(args, dest) for spec in registered() for dest in spec.option_dests()
            },
            run_arguments=run_arguments,
        )
