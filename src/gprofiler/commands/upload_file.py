"""`gprofiler upload-file --file-path X.col`: send one saved profile to the studio.

The times, host and metrics come from the file's own header, so a profile saved while the server
was unreachable (or by `--output-dir` alone) lands where it would have landed then.
"""

import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gprofiler.cli import OneLineErrorParser, add_server_arguments, server_arguments_error
from gprofiler.config import ServerConfig
from gprofiler.output.collapsed import read_header
from gprofiler.sinks.spool import encode_document
from gprofiler.sinks.studio_client import StudioClient, UploadError
from gprofiler.sinks.upload_limits import fit_for_upload

logger = logging.getLogger(__name__)


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(
        prog="gprofiler upload-file",
        description="Upload one collapsed profile (.col) written by gprofiler to the studio.",
        auto_env_var_prefix="gprofiler_",
        add_env_var_help=False,
    )
    parser.add_argument("--file-path", required=True, help="The .col file to upload")
    add_server_arguments(parser)
    return parser


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def upload_body_from_file(text: str, fallback_hostname: str) -> dict[str, Any]:
    """The v2 upload document for a saved profile; ValueError if the file is not one."""
    header = read_header(text)
    for key in ("start_time", "end_time"):
        if not isinstance(header.get(key), str):
            raise ValueError(f"the header has no {key}")
    metadata = _object(header.get("metadata"))
    metrics = _object(header.get("metrics"))
    return {
        "start_time": header["start_time"],
        "end_time": header["end_time"],
        "hostname": metadata.get("hostname") or fallback_hostname,
        "profile": text,
        "cpu_avg": metrics.get("cpu_avg"),
        "mem_avg": metrics.get("mem_avg"),
        "spawn_time": metadata.get("spawn_time") or header["start_time"],
        "gpid": "",
    }


def upload_file_main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    error = server_arguments_error(args)
    if error:
        parser.error(error)
    path = Path(args.file_path)
    try:
        body = upload_body_from_file(path.read_text(encoding="utf-8"), socket.gethostname())
    except (OSError, UnicodeDecodeError, ValueError) as problem:
        sys.stderr.write(f"gprofiler upload-file: {path}: {problem}\n")
        return 1
    body, _, dropped = fit_for_upload(body, encode_document)
    if dropped is not None:
        sys.stderr.write(
            f"gprofiler upload-file: {path} is over the upload limit: its {dropped[0]} least-sampled "
            f"stacks ({dropped[1]} samples) go as one [dropped stacks] line\n"
        )
    client = StudioClient(ServerConfig.from_namespace(args), str(body["hostname"]))
    try:
        answer = client.submit_profile(body)
    except UploadError as problem:
        sys.stderr.write(f"gprofiler upload-file: {path}: {problem}\n")
        return 1
    print(f"uploaded {path} ({body['start_time']} to {body['end_time']}), gpid {answer.get('gpid', '-')}")
    return 0
