"""Command line: gProfiler's options, names and defaults, each also a GPROFILER_* variable or config key.

Precedence, highest first: command line, environment (`GPROFILER_<LONG_OPTION>`), config file
(`--config`, default /etc/gprofiler/config.ini when present), defaults. Invalid values and
combinations are reported argparse-style (one line, exit code 2) before anything runs.
"""

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

import configargparse

import gprofiler.profilers  # noqa: F401  (registers every profiler before the parser is built)
from gprofiler import __version__
from gprofiler.argtypes import pid_list, positive_integer
from gprofiler.config import AgentConfig
from gprofiler.profilers.registry import (
    DISABLED,
    add_profiler_arguments,
    registered,
    validate_profiler_arguments,
)

DEFAULT_CONFIG_FILE = "/etc/gprofiler/config.ini"
DEFAULT_LOG_FILE = "/var/log/gprofiler/gprofiler.log"
DEFAULT_LOG_MAX_SIZE = 5 * 1024 * 1024
DEFAULT_LOG_BACKUP_COUNT = 1
DEFAULT_PID_FILE = "/var/run/gprofiler.pid"
DEFAULT_PROFILING_DURATION = 60
DEFAULT_SAMPLING_FREQUENCY = 11
SUBCOMMANDS = ("perf-collapse",)


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
        "--pids",
        dest="pids",
        action="extend",
        type=pid_list,
        default=None,
        help="Profile only these processes (comma-separated; may be given several times)",
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


class _Parser(configargparse.ArgumentParser):  # type: ignore[misc]
    """argparse's exit code 2, without the ten-line usage block burying the one line that matters."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n(see `{self.prog} --help`)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The agent's parser; every long option is also settable as GPROFILER_<OPTION> or in --config."""
    parser = _Parser(
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
    _add_profiling_arguments(parser)
    add_profiler_arguments(parser)
    _add_process_arguments(parser)
    return parser


def _usage_error(args: argparse.Namespace) -> str | None:
    if not args.output_dir:
        return "Must pass at least one output method (--output-dir)"
    if all(getattr(args, spec.mode_dest) == DISABLED for spec in registered()):
        return "every profiler is disabled; there is nothing to profile"
    return validate_profiler_arguments(args)


def parse_agent_args(argv: Sequence[str]) -> AgentConfig:
    """Parse and validate; exits with code 2 and one clear line on any invalid value."""
    parser = build_parser()
    args = parser.parse_args(list(argv))
    error = _usage_error(args)
    if error:
        parser.error(error)
    return AgentConfig.from_namespace(args)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "perf-collapse":
        from gprofiler.commands.perf_collapse import perf_collapse_main

        return perf_collapse_main(arguments[1:])
    config = parse_agent_args(arguments)
    from gprofiler.agent import run_agent

    return run_agent(config)
