import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from gprofiler.agent_cli import build_parser
from gprofiler.profilers.all import ALL, RUNTIME, SYSTEM
from gprofiler.profilers.perf.profiler import PerfOptions
from gprofiler.profilers.python.profiler import PythonOptions
from gprofiler.profilers.registry import NoOptions, ProfilerSpec, add_profiler_arguments, option


def test_the_list_has_perf_as_the_system_profiler_and_each_runtime_once() -> None:
    assert SYSTEM.name == "perf"
    assert SYSTEM.modes == ("fp", "dwarf", "smart", "disabled")
    assert SYSTEM.default_mode == "fp"
    assert [spec.name for spec in RUNTIME] == ["java", "nodejs", "php", "python", "ruby"]
    assert [spec.name for spec in ALL] == ["java", "nodejs", "perf", "php", "python", "ruby"]
    defaults = {spec.name: spec.default_mode for spec in RUNTIME}
    assert defaults == {
        "java": "auto",
        "nodejs": "disabled",
        "php": "phpspy",
        "python": "auto",
        "ruby": "rbspy",
    }


def test_cli_options_are_generated_from_the_options_dataclasses() -> None:
    parser = argparse.ArgumentParser()
    add_profiler_arguments(parser, ALL)
    args = parser.parse_args(
        ["--perf-mode", "smart", "--perf-dwarf-stack-size", "4096", "--no-python-versions"]
    )
    assert args.perf_mode == "smart"
    assert SYSTEM.options_from(args) == PerfOptions(dwarf_stack_size=4096, path=None)
    python = next(spec for spec in RUNTIME if spec.name == "python")
    assert python.options_from(args) == dataclasses.replace(PythonOptions(), add_versions=False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--no-perf"])  # perf declares disable_flag=False


def test_defaults_live_in_the_dataclass_only() -> None:
    """The parser's defaults are the dataclasses' defaults: parsing nothing gives the default options."""
    args = build_parser().parse_args([])
    for spec in ALL:
        assert spec.options_from(args) == spec.options_type()
        assert getattr(args, spec.mode_dest) == spec.default_mode


def _factory(context: object, mode: str, options: object) -> object:
    return (mode, options)


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="default mode"):
        ProfilerSpec("x-test", ("a",), "b", "", NoOptions, _factory)

    @dataclass(frozen=True)
    class Unflagged:
        x: int = 1

    with pytest.raises(ValueError, match="no flags"):
        ProfilerSpec("x-test", ("a",), "a", "", Unflagged, _factory)

    @dataclass(frozen=True)
    class Flagged:
        level: int = option(3, "--x-test-level", type=int, help="level")

    spec = ProfilerSpec("x-test", ("a", "disabled"), "a", "", Flagged, _factory)
    parser = argparse.ArgumentParser()
    add_profiler_arguments(parser, [spec])
    assert spec.options_from(parser.parse_args(["--x-test-level", "7"])) == Flagged(7)
    with pytest.raises(ValueError, match="twice"):
        add_profiler_arguments(argparse.ArgumentParser(), [spec, spec])
