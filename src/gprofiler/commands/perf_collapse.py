"""`gprofiler perf-collapse`: perf.data or `perf script` text in, collapsed stacks out.

What stackcollapse-perf.pl and inferno-collapse-perf do, with the agent's own parser: one
`comm;frame;...;frame count` line per distinct stack, sorted, root first.
"""

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from gprofiler.output.collapsed import format_plain_collapsed
from gprofiler.perf_tool import PerfError, find_perf, perf_script_argv
from gprofiler.runner import ToolError, stream_stdout
from gprofiler.stacks.perf_script import CollapseResult, collapse_perf_script, read_chunks

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gprofiler perf-collapse",
        description="Collapse perf samples into `frame;frame;... count` lines (root first) on stdout.",
    )
    parser.add_argument(
        "perf_data",
        nargs="?",
        default="perf.data",
        help="perf.data file to read with `perf script`, or - to read `perf script` text from stdin "
        "(default: %(default)s)",
    )
    parser.add_argument("--perf-path", default=None, help="The perf binary (default: perf on PATH)")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="Give up on perf script after this many seconds"
    )
    return parser


def _collapse_file(perf_data: Path, perf_path: str | None, timeout: float) -> CollapseResult:
    if not perf_data.is_file():
        raise PerfError(f"{perf_data}: no such file")
    perf = find_perf(perf_path)
    with stream_stdout(perf_script_argv(perf, perf_data), timeout=timeout) as output:
        return collapse_perf_script(read_chunks(output))


def perf_collapse_main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        if args.perf_data == "-":
            result = collapse_perf_script(read_chunks(sys.stdin.buffer))
        else:
            result = _collapse_file(Path(args.perf_data), args.perf_path, args.timeout)
    except (PerfError, ToolError) as error:
        print(f"gprofiler perf-collapse: {error}", file=sys.stderr)
        return 1
    out = sys.stdout
    try:
        for line in format_plain_collapsed(result.stacks):
            out.write(line + "\n")
        out.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    if result.dropped_samples:
        print(
            f"gprofiler perf-collapse: {result.dropped_samples} unreadable samples skipped", file=sys.stderr
        )
    return 0
