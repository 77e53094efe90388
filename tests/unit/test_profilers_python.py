import os
import sys
from collections import Counter
from pathlib import Path

import configargparse

from gprofiler.profilers.python.profiler import parse_pyspy_raw, pyspy_argv, pyspy_error
from gprofiler.profilers.python.versions import (
    PackageVersions,
    packages_dir,
    parse_metadata_name_version,
    parse_record_paths,
)
from gprofiler.profilers.sampling import sampling_plan
from gprofiler.stacks.model import StackCounts

MERGE = Path(__file__).resolve().parent.parent / "fixtures" / "merge"


def test_raw_output_becomes_python_frames() -> None:
    stacks = parse_pyspy_raw((MERGE / "pyspy_busy.txt").read_text(), "python3")
    assert sum(stacks.values()) == 32
    deepest = max(stacks, key=len)
    assert deepest == (
        "python3",
        "<module> (/tmp/gp-fixture/busy.py:1)_[p]",
        "gp_outer (/tmp/gp-fixture/busy.py:22)_[p]",
        "gp_middle (/tmp/gp-fixture/busy.py:18)_[p]",
        "gp_leaf (/tmp/gp-fixture/busy.py:11)_[p]",
    )
    assert parse_pyspy_raw("garbage\n\nx;y notanumber\n", "p") == Counter()


def test_argv_and_errors() -> None:
    argv = pyspy_argv("py-spy", 42, 11, 60, Path("/w/out.txt"), idle=False)
    assert argv[:2] == ["py-spy", "record"]
    assert "--nonblocking" in argv and "--idle" not in argv and "--gil" not in argv
    assert "--gil" in pyspy_argv("py-spy", 42, 11, 60, Path("/w/o"), idle=False, gil_only=True)
    assert argv[argv.index("-r") + 1] == "11" and argv[argv.index("-d") + 1] == "60"
    with_idle = pyspy_argv("py-spy", 42, 11, 60, Path("/w/o"), idle=True)
    assert "--idle" in with_idle and "--gil" not in with_idle
    stderr = "Error: Failed to find a python interpreter in the .data section\n\nStack backtrace:\n 0: x"
    assert pyspy_error(stderr) == "Failed to find a python interpreter in the .data section"
    assert pyspy_error("") == "no output"


def test_dist_info_parsing() -> None:
    assert packages_dir("/usr/lib/python3/dist-packages/yaml/loader.py") == "/usr/lib/python3/dist-packages"
    assert packages_dir("/srv/app/main.py") is None
    assert parse_metadata_name_version("Metadata-Version: 2.1\nName: Foo\nVersion: 1.2\n\nName: body") == (
        "Foo",
        "1.2",
    )
    record = "foo/__init__.py,sha256=x,10\nfoo/data.bin,,\n../../../bin/foo,,\n"
    assert parse_record_paths(record, "/s/site-packages") == ["/s/site-packages/foo/__init__.py"]
    # A row csv cannot read (once: csv.Error out of the py-spy batch) costs that row only.
    hostile = f"{'x' * 200_000},,\n\0bad\u2028,\nfoo/ok.py,,\n"
    assert parse_record_paths(hostile, "/s/site-packages") == ["/s/site-packages/foo/ok.py"]


def test_versions_of_packages_installed_here() -> None:
    # This interpreter's own root and site-packages, through /proc/self: real RECORD files.
    module_file = configargparse.__file__
    stdlib_file = os.__file__
    stacks: StackCounts = Counter(
        {
            (
                "python3",
                f"parse ({module_file}:10)_[p]",
                f"join ({stdlib_file}:5)_[p]",
                "main (/srv/app.py:1)_[p]",
            ): 3,
        }
    )
    version = ".".join(map(str, sys.version_info[:3]))
    annotated = PackageVersions(Path("/proc")).annotate(os.getpid(), version, stacks)
    ((stack, count),) = annotated.items()
    assert count == 3
    assert stack[1].startswith(f"parse ({module_file}:10 [ConfigArgParse==")
    assert stack[1].endswith("])_[p]")
    if "/site-packages/" not in stdlib_file and "/dist-packages/" not in stdlib_file:
        assert stack[2] == f"join ({stdlib_file}:5 [standard-library=={version}])_[p]"
    assert stack[3] == "main (/srv/app.py:1)_[p]"


def test_pyspy_sampling_follows_the_cpu_a_process_used() -> None:
    assert sampling_plan(11, 60, 1.0) == (11, 60)  # a core of its own: the full rate, all the cycle
    assert sampling_plan(11, 60, 3.5) == (11, 60)  # several cores: never above the rate
    assert sampling_plan(11, 60, 0.5) == (6, 60)
    assert sampling_plan(11, 60, 0.1) == (2, 60)
    assert sampling_plan(11, 60, 0.036) == (1, 24)  # one of 50 sharing two cores: 24 samples
    assert sampling_plan(11, 60, 0.002) == (1, 10)  # at least MIN_SAMPLES
    assert sampling_plan(11, 5, 0.002) == (1, 5)  # never past the cycle
    assert sampling_plan(50, 60, 0.3) == (15, 60)
