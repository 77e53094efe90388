"""The agent's command line: gProfiler's options, names and defaults, each also a GPROFILER_* variable
or config key; the profilers' own options are generated from `profilers/all.py`.

Precedence, highest first: command line, environment (`GPROFILER_<LONG_OPTION>`), config file
(`--config`, default /etc/gprofiler/config.ini when present), defaults. Invalid values and
combinations are reported argparse-style (one line, exit code 2) before anything runs.
"""

import argparse
from collections.abc import Sequence

import configargparse

from gprofiler import __version__
from gprofiler.argtypes import name_list, non_negative_integer, pid_list, positive_integer
from gprofiler.cli import SUBCOMMANDS, OneLineErrorParser, add_server_arguments, server_arguments_error
from gprofiler.config import AgentConfig
from gprofiler.profilers.all import ALL
from gprofiler.profilers.registry import DISABLED, add_profiler_arguments, validate_profiler_arguments

DEFAULT_CONFIG_FILE = "/etc/gprofiler/config.ini"
DEFAULT_LOG_FILE = "/var/log/gprofiler/gprofiler.log"
DEFAULT_LOG_MAX_SIZE = 5 * 1024 * 1024
DEFAULT_LOG_BACKUP_COUNT = 1
DEFAULT_PID_FILE = "/var/run/gprofiler.pid"
DEFAULT_PROFILING_DURATION = 60
DEFAULT_SAMPLING_FREQUENCY = 11
DEFAULT_SPOOL_DIR = "/var/lib/gprofiler/spool"
DEFAULT_SPOOL_MAX_MB = 256


OUTPUT_FORMATS = ("col", "pprof", "speedscope")


def output_formats(value: str) -> tuple[str, ...]:
    """`col,pprof`: each of OUTPUT_FORMATS at most once, in the order given."""
    chosen = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [part for part in chosen if part not in OUTPUT_FORMATS]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(f"{value!r}: a comma-separated list of {', '.join(OUTPUT_FORMATS)}")
    return chosen


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output-dir", dest="output_dir", help="Directory to write profiles into")
    parser.add_argument(
        "--flamegraph",
        dest="flamegraph",
        action="store_true",
        help="Write an HTML flame graph next to each collapsed profile (default)",
    )
    parser.add_argument(
        "--no-flamegraph",
        dest="flamegraph",
        action="store_false",
        help="Write only the collapsed profiles",
    )
    parser.set_defaults(flamegraph=True)
    parser.add_argument(
        "--rotating-output",
        action="store_true",
        default=False,
        help="Keep only the latest profile (and flame graph) in the output directory",
    )
    parser.add_argument(
        "--output-format",
        dest="output_formats",
        type=output_formats,
        default=("col",),
        metavar="FORMAT[,FORMAT]",
        help="The files written into the output directory for each cycle: col (profile_<time>.col), "
        "pprof (.pb.gz, for `go tool pprof`), speedscope (.speedscope.json) (default: col)",
    )


def _add_upload_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-u",
        "--upload-results",
        action="store_true",
        default=False,
        help="Upload every profile to the studio at --server-host",
    )
    add_server_arguments(parser)
    group = parser.add_argument_group("upload spool")
    group.add_argument(
        "--api-server",
        default=None,
        help="Where the agent's logs are sent (default: --server-host)",
    )
    group.add_argument(
        "--dont-send-logs",
        dest="send_logs",
        action="store_false",
        default=True,
        help="Do not send the agent's log to the server",
    )
    group.add_argument(
        "--spool-dir",
        default=DEFAULT_SPOOL_DIR,
        help="Profiles wait here until the server has them, across restarts (default: %(default)s)",
    )
    group.add_argument(
        "--spool-max-size",
        type=positive_integer,
        default=DEFAULT_SPOOL_MAX_MB,
        metavar="MB",
        help="Oldest waiting profiles are dropped beyond this size (default: %(default)s MB)",
    )


def _add_profiling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--profiling-frequency",
        dest="frequency",
        type=positive_integer,
        default=DEFAULT_SAMPLING_FREQUENCY,
        help="Sampling frequency in Hz (default: %(default)s)",
    )
    parser.add_argument(
        "-d",
        "--profiling-duration",
        dest="duration",
        type=positive_integer,
        default=DEFAULT_PROFILING_DURATION,
        help="Length of one profiling cycle in seconds (default: %(default)s)",
    )
    parser.add_argument(
        "-c",
        "--continuous",
        action="store_true",
        default=False,
        help="Profile cycle after cycle until stopped",
    )
    parser.add_argument(
        "--max-processes-runtime-profiler",
        dest="max_processes_runtime_profiler",
        type=non_negative_integer,
        default=0,
        metavar="N",
        help="Most processes each runtime profiler (py-spy, Java, ...) profiles per cycle, the busiest "
        "first; 0 for no limit but the profiler's own (default: %(default)s). Whatever the limit, a "
        "process that used less CPU than one sample's worth in the last cycle keeps perf's stacks",
    )
    parser.add_argument(
        "--pids",
        dest="pids",
        action="extend",
        type=pid_list,
        default=None,
        help="Profile only these processes (comma-separated; may be given several times)",
    )


def _add_container_arguments(parser: argparse.ArgumentParser) -> None:
    containers = parser.add_argument_group("containers")
    containers.add_argument(
        "--containers",
        dest="containers",
        action="extend",
        type=name_list,
        default=None,
        metavar="NAME[,NAME...]",
        help="Profile only the processes of these containers, perf included (comma-separated; may be "
        "given several times). A Kubernetes container matches by its full k8s_... name or by its own name",
    )
    containers.add_argument(
        "--disable-container-names",
        dest="container_names",
        action="store_false",
        default=True,
        help="Do not ask the container runtime for names (the stacks' container frame stays empty)",
    )
    containers.add_argument(
        "--k8s-pod-labels",
        action="store_true",
        default=False,
        help="In a Kubernetes pod: add the labels of the profiled containers' pods to the header (reads "
        "pods through the API with the pod's service account; the DaemonSet's ClusterRole allows it)",
    )
    containers.add_argument(
        "--container-runtime-socket",
        metavar="PATH",
        default=None,
        help="A Docker Engine API socket (Docker, or podman's service) to name containers with (default: "
        "/var/run/docker.sock, then /run/podman/podman.sock, on the host; CRI-O and containerd are "
        "also asked)",
    )


def _add_process_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pid-file", default=DEFAULT_PID_FILE, help="Where to write the agent's PID (default: %(default)s)"
    )
    parser.add_argument(
        "--dont-disable-core-files",
        dest="disable_core_files",
        action="store_false",
        default=True,
        help="Allow core dumps of the agent and the tools it runs (disabled by default to save disk)",
    )
    parser.add_argument(
        "--disable-pidns-check",
        dest="pid_ns_check",
        action="store_false",
        default=True,
        help="Start even when not in the host's PID namespace (processes outside it will be missed)",
    )
    parser.add_argument(
        "--proc-root",
        metavar="PATH",
        help="The host's /proc as mounted in the agent's container (default: /host/proc when it is the "
        "/proc of the agent's PID namespace, else /proc)",
    )
    logging_group = parser.add_argument_group("logging")
    logging_group.add_argument(
        "--log-file", default=DEFAULT_LOG_FILE, help="Rotating log file; empty to log to stderr only"
    )
    logging_group.add_argument(
        "--log-rotate-max-size",
        type=positive_integer,
        default=DEFAULT_LOG_MAX_SIZE,
        help="Bytes per log file",
    )
    logging_group.add_argument(
        "--log-rotate-backup-count",
        type=positive_integer,
        default=DEFAULT_LOG_BACKUP_COUNT,
        help="Rotated log files to keep",
    )
    parser.add_argument("-v", "--verbose", action="store_true", default=False, help="Log at DEBUG level")
    parser.add_argument(
        "--disable-application-identifiers",
        dest="app_identifiers",
        action="store_false",
        default=True,
        help="Do not add an `appid: ...` frame (gunicorn app, python script, node script, ...) to stacks",
    )


def build_parser() -> argparse.ArgumentParser:
    """The agent's parser; every long option is also settable as GPROFILER_<OPTION> or in --config."""
    parser = OneLineErrorParser(
        prog="gprofiler",
        description="Profile every process on this machine and write collapsed stacks and flame graphs. "
        f"Subcommands: {', '.join(SUBCOMMANDS)} (see `gprofiler <subcommand> --help`).",
        epilog="Every long option can also be set as an environment variable GPROFILER_<OPTION> "
        "(e.g. GPROFILER_PROFILING_FREQUENCY=49, GPROFILER_CONTINUOUS=true) or as `option = value` "
        "in the config file. Precedence: command line, environment, config file, default.",
        auto_env_var_prefix="gprofiler_",
        default_config_files=[DEFAULT_CONFIG_FILE],
        add_env_var_help=False,
        add_config_file_help=False,
    )
    parser.add_argument("--config", is_config_file=True, help=f"Config file (default: {DEFAULT_CONFIG_FILE})")
    parser.add_argument("--version", action="version", version=__version__)
    _add_output_arguments(parser)
    _add_upload_arguments(parser)
    _add_profiling_arguments(parser)
    _add_container_arguments(parser)
    add_profiler_arguments(parser, ALL)
    _add_process_arguments(parser)
    return parser


def environment_variables() -> set[str]:
    """The GPROFILER_* variables the agent reads: one per long option, named as ConfigArgParse names them."""
    parser = build_parser()
    assert isinstance(parser, configargparse.ArgumentParser)
    names = set()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)) or not action.option_strings:
            continue
        keys = parser.get_possible_config_keys(action)
        if keys and not getattr(action, "is_config_file_arg", False):
            names.add(("gprofiler_" + keys[0].strip("-")).replace("-", "_").upper())
    return names


def _usage_error(args: argparse.Namespace) -> str | None:
    if not args.output_dir and not args.upload_results:
        return "Must pass at least one output method (--upload-results / --output-dir)"
    if args.upload_results:
        error = server_arguments_error(args)
        if error:
            return error
    if args.containers and not args.container_names:
        return "--containers needs container names: drop --disable-container-names"
    if args.containers and args.pids:
        return "--containers and --pids cannot be combined: choose the processes one way"
    if all(getattr(args, spec.mode_dest) == DISABLED for spec in ALL):
        return "every profiler is disabled; there is nothing to profile"
    return validate_profiler_arguments(args, ALL)


def parse_agent_args(argv: Sequence[str]) -> AgentConfig:
    """Parse and validate; exits with code 2 and one clear line on any invalid value."""
    parser = build_parser()
    args = parser.parse_args(list(argv))
    error = _usage_error(args)
    if error:
        parser.error(error)
    return AgentConfig.from_namespace(args, ALL)
