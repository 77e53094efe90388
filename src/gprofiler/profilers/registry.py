"""How a profiler declares itself: modes, a frozen dataclass of its options, and a factory.

The command line is generated from these declarations (`add_profiler_arguments`): `--<name>-mode`,
`--no-<name>`, and one option per field of the options dataclass, named `<name>_<field>` in the
parsed arguments (so `GPROFILER_<NAME>_<FIELD>` too). The parsed arguments become that dataclass
(`ProfilerSpec.options_from`), so defaults are written once, in the dataclass, and a misspelled option
is a type error. Which profilers exist is one explicit list, `profilers/all.py`; nothing registers
itself by being imported.
"""

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from gprofiler.profilers.base import ProfilerContext

DISABLED = "disabled"

OptionsT = TypeVar("OptionsT")
BuiltT = TypeVar("BuiltT", covariant=True)


@dataclass(frozen=True)
class Flag:
    """How one options field appears on the command line."""

    flags: tuple[str, ...]
    help: str
    type: Callable[[str], Any] | None = None
    negative: tuple[str, str] | None = None  # a boolean's "off" switch: (flag, help)


def option(
    default: Any,
    *flags: str,
    help: str,
    type: Callable[[str], Any] | None = None,
    negative: tuple[str, str] | None = None,
) -> Any:
    """A field of a profiler's options dataclass, with its command-line flags."""
    return dataclasses.field(default=default, metadata={"cli": Flag(tuple(flags), help, type, negative)})


@dataclass(frozen=True)
class NoOptions:
    """The options of a profiler that has none besides its mode."""


@dataclass(frozen=True)
class ProfilerSpec(Generic[OptionsT, BuiltT]):
    """What a profiler supports, as data.

    `validate` receives the parsed arguments and returns an error message for combinations the
    profiler cannot honour (reported argparse-style, exit code 2), or None. `max_frequency` caps the
    rate the profiler samples at (the cycle's frequency above it is lowered, not refused).
    `factory` builds the profiler for a mode other than "disabled": a `RuntimeProfiler` for a runtime,
    the `PerfProfiler` for the system-wide profiler (see `profilers/all.py`).
    """

    name: str
    modes: tuple[str, ...]
    default_mode: str
    mode_help: str
    options_type: type[OptionsT]
    factory: "Callable[[ProfilerContext, str, OptionsT], BuiltT]"
    max_frequency: int | None = None
    disable_flag: bool = True  # generate --no-<name>
    validate: Callable[[argparse.Namespace], str | None] | None = None

    def __post_init__(self) -> None:
        if self.default_mode not in self.modes:
            raise ValueError(f"profiler {self.name!r}: default mode {self.default_mode!r} is not a mode")
        for field in dataclasses.fields(self.options_type):  # type: ignore[arg-type]
            if not isinstance(field.metadata.get("cli"), Flag):
                raise ValueError(f"profiler {self.name!r}: option {field.name!r} has no flags (use option())")

    @property
    def mode_dest(self) -> str:
        return f"{self.name.replace('-', '_')}_mode"

    def option_dest(self, field_name: str) -> str:
        return f"{self.name.replace('-', '_')}_{field_name}"

    def options_from(self, args: argparse.Namespace) -> OptionsT:
        """The parsed arguments as this profiler's options dataclass."""
        fields = dataclasses.fields(self.options_type)  # type: ignore[arg-type]
        return self.options_type(
            **{field.name: getattr(args, self.option_dest(field.name)) for field in fields}
        )

    def build(self, context: "ProfilerContext", mode: str, options: OptionsT) -> BuiltT:
        """The profiler for `mode`, at the cycle's frequency capped to `max_frequency`."""
        frequency = min(context.frequency, self.max_frequency or context.frequency)
        return self.factory(dataclasses.replace(context, frequency=frequency), mode, options)


AnySpec = ProfilerSpec[Any, Any]


def check_unique(specs: Sequence[AnySpec]) -> None:
    names = [spec.name for spec in specs]
    duplicated = {name for name in names if names.count(name) > 1}
    if duplicated:
        raise ValueError(f"profiler {sorted(duplicated)[0]!r} listed twice")


def add_profiler_arguments(parser: argparse.ArgumentParser, specs: Sequence[AnySpec]) -> None:
    """`--<name>-mode`, `--no-<name>` and each profiler's options, one group per profiler."""
    check_unique(specs)
    for spec in specs:
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
        for field in dataclasses.fields(spec.options_type):
            _add_option(group, spec.option_dest(field.name), field.default, field.metadata["cli"])


def _add_option(group: Any, dest: str, default: Any, flag: Flag) -> None:
    if isinstance(default, bool):
        group.add_argument(*flag.flags, dest=dest, action="store_true", default=default, help=flag.help)
        if flag.negative is not None:
            negative, negative_help = flag.negative
            group.add_argument(negative, dest=dest, action="store_false", default=default, help=negative_help)
        return
    kwargs: dict[str, Any] = {"dest": dest, "default": default, "help": flag.help}
    if flag.type is not None:
        kwargs["type"] = flag.type
    group.add_argument(*flag.flags, **kwargs)


def validate_profiler_arguments(args: argparse.Namespace, specs: Sequence[AnySpec]) -> str | None:
    """The first error any enabled profiler reports about the parsed arguments, or None."""
    for spec in specs:
        if getattr(args, spec.mode_dest) == DISABLED:
            continue
        if spec.validate is not None:
            error = spec.validate(args)
            if error:
                return error
    return None
