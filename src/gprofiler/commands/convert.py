"""`gprofiler convert`: a profile from one format to another.

    gprofiler convert profile_2026-12-01T10:01:00.col --to pprof       -> ....pb.gz
    gprofiler convert profile_2026-12-01T10:01:00.col --to speedscope  -> ....speedscope.json
    gprofiler convert cpu.pb.gz --to col                               -> cpu.col

The input's format is read from its bytes: a gzipped or raw pprof, or a `.col` text (its `# {json}`
header line). What each direction keeps and loses: output/pprof.py and output/speedscope.py.
"""

import argparse
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from gprofiler.output.collapsed import read_header

MAX_INPUT_BYTES = 256 * 1024 * 1024
SUFFIXES = {"col": ".col", "pprof": ".pb.gz", "speedscope": ".speedscope.json"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gprofiler convert",
        description="Convert a profile: the agent's .col to pprof or speedscope, a pprof to .col.",
    )
    parser.add_argument("input", help="a .col file, or a pprof profile (gzipped or not)")
    parser.add_argument(
        "--to",
        choices=sorted(SUFFIXES),
        help="the output format (default: pprof for a .col, col for a pprof)",
    )
    parser.add_argument(
        "-o",
        "--output",
        help="the output file, - for stdout (default: the input's name with the format's suffix)",
    )
    parser.add_argument(
        "--frequency",
        type=int,
        default=None,
        help="to pprof: the sampling frequency in Hz, for cpu/nanoseconds (default: the one the agent ran "
        "with, from the header, else 11)",
    )
    parser.add_argument(
        "--hostname", default=None, help="from pprof: the header's hostname (default: this host)"
    )
    parser.add_argument(
        "--process", default="", help="from pprof: the process name of samples without a `process` label "
        "(default: the profile's main binary)",
    )  # fmt: skip
    return parser


def _output_path(source: Path, target: str) -> Path:
    name = source.name
    for suffix in (".pb.gz", ".pprof", ".pb", ".col", ".gz"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return source.with_name(name + SUFFIXES[target])


def convert(
    data: bytes, target: str | None, *, frequency: int | None, hostname: str, process: str
) -> tuple[str, bytes]:
    """(the output format, the output bytes) for an input's bytes; ValueError for a bad input."""
    from gprofiler.output import pprof, speedscope

    if data.startswith(b"#"):
        text = data.decode("utf-8", "surrogateescape")
        header = read_header(text)
        target = target or "pprof"
        if target == "pprof":
            return target, pprof.to_pprof(header, pprof.stack_lines(text), frequency)
        if target == "speedscope":
            metadata = header.get("metadata")
            host = metadata.get("hostname", "") if isinstance(metadata, dict) else ""
            name = f"{host} {header.get('start_time', '')}".strip()
            return target, speedscope.to_speedscope(pprof.stack_lines(text), name or "gprofiler")
        return target, data
    target = target or "col"
    text = pprof.pprof_to_col(data, hostname=hostname, process=process)
    if target == "col":
        return target, text.encode("utf-8", "surrogateescape")
    again = text.encode("utf-8", "surrogateescape")
    return convert(again, target, frequency=frequency, hostname=hostname, process=process)


def convert_main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    source = Path(args.input)
    if args.frequency is not None and not 0 < args.frequency <= 100_000:
        print("gprofiler convert: --frequency must be 1 to 100000", file=sys.stderr)
        return 2
    try:
        with source.open("rb") as file:
            data = file.read(MAX_INPUT_BYTES + 1)
    except OSError as error:
        print(f"gprofiler convert: cannot read {source}: {error.strerror}", file=sys.stderr)
        return 1
    if len(data) > MAX_INPUT_BYTES:
        print(f"gprofiler convert: {source} is larger than {MAX_INPUT_BYTES >> 20} MB", file=sys.stderr)
        return 1
    try:
        target, output = convert(
            data, args.to, frequency=args.frequency, hostname=args.hostname or socket.gethostname(),
            process=args.process,
        )  # fmt: skip
    except ValueError as error:  # PprofError, a .col without a JSON header
        print(f"gprofiler convert: {source}: {error}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.buffer.write(output)
        return 0
    destination = Path(args.output) if args.output else _output_path(source, target)
    try:
        destination.write_bytes(output)
    except OSError as error:
        print(f"gprofiler convert: cannot write {destination}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {destination} ({target})", file=sys.stderr)
    return 0
