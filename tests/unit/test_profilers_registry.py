import argparse

import pytest

from gprofiler.profilers.registry import (
    ProfilerOption,
    ProfilerSpec,
    add_profiler_arguments,
    register,
    registered,
)


def test_perf_is_registered_with_its_modes() -> None:
    specs = {spec.name: spec for spec in registered()}
    perf = specs["perf"]
    assert perf.modes == ("fp", "dwarf", "smart", "disabled")
    assert perf.default_mode == "fp"


def test_cli_options_are_generated_from_specs() -> None:
    parser = argparse.ArgumentParser()
    add_profiler_arguments(parser)
    args = parser.parse_args(["--perf-mode", "smart", "--perf-dwarf-stack-size", "4096"])
    assert args.perf_mode == "smart"
    assert args.perf_dwarf_stack_size == 4096
    with pytest.raises(SystemExit):
        parser.parse_args(["--no-perf"])  # perf declares disable_flag=False


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="twice"):
        register(ProfilerSpec(name="perf", modes=("a",), default_mode="a", mode_help=""))
    with pytest.raises(ValueError, match="default mode"):
        register(ProfilerSpec(name="x-test", modes=("a",), default_mode="b", mode_help=""))
    assert ProfilerOption(("--x",)).kwargs == {}
