"""Command line entry: dispatch to the agent (agent_cli.py) or a subcommand, and what they share
(the server options, one-line usage errors). Importing this module imports no profiler."""

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

import configargparse

from gprofiler.argtypes import positive_integer

DEFAULT_SERVER_HOST = "http://127.0.0.1:8080"  # where `gprofiler-studio serve` listens
DEFAULT_UPLOAD_TIMEOUT = 120
SUBCOMMANDS = ("perf-collapse", "upload-file", "convert")


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and as whom profiles are sent; shared by the agent and `upload-file`."""
    group = parser.add_argument_group("upload")
    group.add_argument("--token", help="The studio's token for this service (GPROFILER_TOKEN)")
    group.add_argument("--service-name", help="The service these profiles belong to")
    group.add_argument(
        "--server-host",
        default=DEFAULT_SERVER_HOST,
        help="The studio's base URL (default: %(default)s)",
    )
    group.add_argument(
        "--server-upload-timeout",
        type=positive_integer,
        default=DEFAULT_UPLOAD_TIMEOUT,
        help="Seconds one upload may take (default: %(default)s)",
    )
    group.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        default=True,
        help="Do not verify the server's TLS certificate",
    )


class OneLineErrorParser(configargparse.ArgumentParser):  # type: ignore[misc]
    """argparse's exit code 2, without the ten-line usage block burying the one line that matters."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n(see `{self.prog} --help`)\n")
        raise SystemExit(2)


def server_arguments_error(args: argparse.Namespace) -> str | None:
    """What is missing or wrong for talking to the server, if anything."""
    if not args.token:
        return "uploading needs --token (or GPROFILER_TOKEN)"
    if not args.service_name or not args.service_name.isprintable() or len(args.service_name) > 256:
        return "uploading needs --service-name: up to 256 printable characters"
    if not args.server_host.startswith(("http://", "https://")):
        return f"--server-host {args.server_host!r} must start with http:// or https://"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "perf-collapse":
        from gprofiler.commands.perf_collapse import perf_collapse_main

        return perf_collapse_main(arguments[1:])
    if arguments and arguments[0] == "convert":
        from gprofiler.commands.convert import convert_main

        return convert_main(arguments[1:])
    if arguments and arguments[0] == "upload-file":
        from gprofiler.commands.upload_file import upload_file_main

        return upload_file_main(arguments[1:])
    # The agent's parser imports every profiler; the commands above need none of them.
    from gprofiler.agent import run_agent
    from gprofiler.agent_cli import parse_agent_args

    config = parse_agent_args(arguments)

    return run_agent(config)
