"""Profilers declare themselves here; the command line and the factory are built from this data.

A profiler module calls `register(ProfilerSpec(...))` at import time; `gprofiler.profilers` imports
every profiler module in one explicit list, so the registry is complete once that package is imported.
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gprofiler.profilers.base import ProfilerContext, RuntimeProfiler

DISABLED = "disabled"


@dataclass(frozen=True)
class ProfilerOption:
    """One extra command-line option owned by a profiler (argparse keyword arguments)."""

    flags: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProfilerSpec:
    """What a profiler supports, as data.

    `validate` receives the parsed arguments and returns an error message for combinations the
    profiler cannot honour (reported argparse-style, exit code 2), or None. `max_frequency` caps the
    rate the profiler samples at (the cycle's frequency above it is lowered, not refused).
    `factory` builds a runtime profiler for a mode other than "disabled" (None for perf, which the
    agent drives itself as the system profiler).
    """

    name: str
    modes: tuple[str, ...]
    default_mode: str
    mode_help: str
    max_frequency: int | None = None
    options: tuple[ProfilerOption, ...] = ()
    disable_flag: bool = True  # generate --no-<name>
    validate: Callable[[argparse.Namespace], str | None] | None = None
    factory: "Callable[[ProfilerContext, str], RuntimeProfiler] | None" = None

    def option_dests(self) -> list[str]:
        return [
            option.kwargs.get("dest") or option.flags[-1].lstrip("-").replace("-", "_")
            for option in self.options
        ]

    @property
    def mode_dest(self) -> str:
        return f"{self.name.replace('-', '_')}_mode"


_REGISTRY: dict[str, ProfilerSpec] = {}


def register(spec: ProfilerSpec) -> ProfilerSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"profiler {spec.name!r} registered twice")
    if spec.default_mode not in spec.modes:
        raise ValueError(f"profiler {spec.name!r}: default mode {spec.default_mode!r} is not a mode")
    _REGISTRY[spec.name] = spec
    return spec


def registered() -> list[ProfilerSpec]:
    """All registered profilers, in registration order."""
    return list(_REGISTRY.values())


def add_profiler_arguments(parser: argparse.ArgumentParser) -> None:
    """`--<name>-mode`, `--no-<name>` and each profiler's own options, one group per profiler."""
    for spec in registered():
        group = parser.add_argument_group(spec.name)
        group.add_argument(
            f"--{spec.name}-mode",
            dest=spec.mode_dest,
            choices=spec.modes,
            default=spec.default_mode,
            help=f"{spec.mode_help} (default: %(default)s)",
        )
        if spec.disable_flag:
            group.add_argument(
                f"--no-{spec.name}",
                dest=spec.mode_dest,
                action="store_const",
                const=DISABLED,
                help=f"Disable the {spec.name} profiler (same as --{spec.name}-mode {DISABLED})",
            )
        for option in spec.options:
            group.add_argument(*option.flags, **option.kwargs)


def validate_profiler_arguments(args: argparse.Namespace) -> str | None:
    """The first error any enabled profiler reports about the parsed arguments, or None."""
    for spec in registered():
        if getattr(args, spec.mode_dest) == DISABLED:
            continue
        if spec.validate is not None:
            error = spec.validate(args)
            if error:
                return error
    return None
