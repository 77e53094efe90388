"""What every parser of untrusted bytes promises, as one check per parser over raw bytes.

A target passes for any input when the parser either returns a well-formed result or raises the
one error type it documents. The Hypothesis suite (tests/unit/test_parsers_fuzz.py), the atheris
runs (tests/fuzz/run_atheris.py) and the replay of past findings (tests/fixtures/fuzz/<target>/)
all call these same functions, so a finding of any of them is checked by all.
"""

import contextlib
import io
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone

from gprofiler.discovery.container_names import (
    RuntimeUnavailableError,
    containerd_name,
    crio_name,
    docker_names,
    k8s_fields,
)
from gprofiler.discovery.containers import container_from_cgroup
from gprofiler.discovery.elf import inspect_go_binary
from gprofiler.discovery.procfs import innermost_pid, parse_cmdline, parse_mapped_paths, parse_status
from gprofiler.output.collapsed import format_collapsed, profile_header
from gprofiler.output.pprof import PprofError, pprof_to_col
from gprofiler.profilers.java.async_profiler import parse_collapsed as parse_async_profiler
from gprofiler.profilers.java.attach import AttachError, parse_reply
from gprofiler.profilers.java.jfr_format import JfrFormatError
from gprofiler.profilers.java.jfr_reader import read_samples
from gprofiler.profilers.nodejs.inspector import parse_listening_inodes
from gprofiler.profilers.python.profiler import parse_pyspy_raw
from gprofiler.profilers.python.versions import parse_metadata_name_version, parse_record_paths
from gprofiler.stacks.model import PidStacks, StackCounts
from gprofiler.stacks.perf_script import collapse_perf_script
from gprofiler_studio.ingest import IngestError, inflate, parse_collapsed, parse_pprof_upload, parse_upload

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def text_of(data: bytes) -> str:
    """Bytes as the readers decode tool output and files: invalid UTF-8 escaped, never an error."""
    return data.decode("utf-8", "backslashreplace")


def studio_takes(stacks: PidStacks) -> None:
    """What the agent writes of these stacks, studio stores as they are: the same frames and counts."""
    text = format_collapsed(profile_header(metadata={}, metrics={}, start_time=T0, end_time=T0), stacks)
    stored: Counter[str] = Counter()
    for sample in parse_collapsed(text):
        stored[sample.stack] += sample.count
    written: Counter[str] = Counter()
    for line in text.split("\n")[1:-1]:
        stack, _, count = line.rpartition(" ")
        written[stack.split(";", 2)[2]] += int(count)
    assert stored == written


def well_formed(stacks: StackCounts) -> None:
    for stack, count in stacks.items():
        assert count > 0 and stack, (stack, count)
        for frame in stack:
            assert frame == "" or (";" not in frame and "\n" not in frame and frame.isprintable()), frame


def perf_script(data: bytes) -> None:
    whole = collapse_perf_script([data])
    for counts in whole.stacks.values():
        well_formed(counts)
    studio_takes(whole.stacks)
    # 1 MB pipe reads cut the text anywhere: the result does not depend on where
    middle = len(data) // 2
    assert collapse_perf_script([data[:middle], data[middle:]]).stacks == whole.stacks


def pyspy_raw(data: bytes) -> None:
    stacks = parse_pyspy_raw(text_of(data), "python3")
    well_formed(stacks)
    studio_takes({1: stacks})


def async_profiler(data: bytes) -> None:
    stacks = parse_async_profiler(text_of(data), "java")
    well_formed(stacks)
    studio_takes({1: stacks})


def jfr(data: bytes) -> None:
    try:
        samples = read_samples(data)
    except JfrFormatError:
        return
    for stacks in samples.stacks.values():
        for frames, count in stacks.items():
            assert count > 0 and all(isinstance(frame, str) for frame in frames)
            studio_takes({1: Counter({("java", *frames): count})})


def cgroup(data: bytes) -> None:
    found = container_from_cgroup(text_of(data))
    if found is not None:
        assert len(found.id) == 64 and all(c in "0123456789abcdef" for c in found.id), found


def proc_files(data: bytes) -> None:
    """maps, status and cmdline of a process (whose names and paths the process chose)."""
    text = text_of(data)
    assert all(path.startswith("/") for path in parse_mapped_paths(text))
    assert isinstance(innermost_pid(parse_status(text), 7), int)
    assert all(isinstance(arg, str) for arg in parse_cmdline(data))


def runtime_json(data: bytes) -> None:
    """Answers of Docker's API, CRI-O's inspect and containerd's OCI specs."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return
    for read in (docker_names, crio_name, containerd_name):
        try:
            found = read(document)
        except RuntimeUnavailableError:  # the answer is not what that runtime sends: one warning
            continue
        names = found.values() if isinstance(found, dict) else [found]
        assert all(name is None or isinstance(name, str) for name in names)
        for name in filter(None, names):
            k8s_fields(name)


def python_packages(data: bytes) -> None:
    """A site-packages' METADATA and RECORD files."""
    text = text_of(data)
    parse_metadata_name_version(text)
    # absolute and normalized (a RECORD may name files outside site-packages: ../../bin/tool)
    assert all(
        path.startswith("/") and "/../" not in path for path in parse_record_paths(text, "/s/site-packages")
    )


def small_formats(data: bytes) -> None:
    """A JVM's attach reply, a node's /proc/net/tcp."""
    with contextlib.suppress(AttachError):
        parse_reply(data)
    parse_listening_inodes(text_of(data))


def elf(data: bytes) -> None:
    found = inspect_go_binary(io.BytesIO(data))
    assert found is None or isinstance(found.stripped, bool)


def studio_ingest(data: bytes) -> None:
    """An upload body, gzipped or not: IngestError (a 4xx) or a valid profile, nothing else."""
    for encoding in ("gzip", None):
        try:
            profile = parse_upload(inflate(data, encoding))
        except IngestError as error:
            assert 400 <= error.status < 500 and error.message
            continue
        assert profile.start <= profile.end and all(sample.count > 0 for sample in profile.samples)


def pprof_upload(data: bytes) -> None:
    """A pprof upload (gzipped or not, another tool's or ours): IngestError (a 4xx) or a valid
    profile; and what `pprof_to_col` makes of it is a `.col` studio takes, or PprofError."""
    try:
        profile = parse_pprof_upload(data, "fuzz-host")
    except IngestError as error:
        assert 400 <= error.status < 500 and error.message
    else:
        assert profile.start <= profile.end and all(sample.count > 0 for sample in profile.samples)
    try:
        text = pprof_to_col(data, hostname="h", limit=16 * 1024 * 1024)
    except PprofError:
        return
    samples = parse_collapsed(text)  # every line one studio takes
    assert all(sample.count > 0 for sample in samples)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "perf_script": perf_script,
    "pyspy_raw": pyspy_raw,
    "async_profiler": async_profiler,
    "jfr": jfr,
    "cgroup": cgroup,
    "proc_files": proc_files,
    "runtime_json": runtime_json,
    "python_packages": python_packages,
    "small_formats": small_formats,
    "elf": elf,
    "studio_ingest": studio_ingest,
    "pprof_upload": pprof_upload,
}
