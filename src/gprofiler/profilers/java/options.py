"""The Java profiler's command-line options: gProfiler's names, checked before the agent starts
(async-profiler 2.x options that 4.x lacks are refused with the reason)."""

import argparse
from dataclasses import dataclass

from gprofiler.argtypes import positive_integer
from gprofiler.profilers.registry import option

JAVA_SAFEMODES = ("hserr", "version")
_REFUSED_HELP = "gProfiler's option for async-profiler 2.x; refused: the bundled async-profiler 4 lacks it"
_AP_MODES = ("cpu", "itimer", "auto")
# gProfiler's async-profiler options that async-profiler 3.0 removed (the bundled one is 4.x)
_REFUSED = {
    "java_ap_safemode": "--java-async-profiler-safemode: async-profiler 3.0 removed safemode; its stack "
    "walking is chosen with --java-async-profiler-args cstack=... and --java-async-profiler-features",
    "java_ap_mcache": "--java-async-profiler-mcache: async-profiler 3.0 removed the method cache option",
    "java_ap_no_report_meminfo": "--java-async-profiler-no-report-meminfo: the bundled async-profiler has "
    "no meminfo command, so there is nothing to report or not",
}


def _ap_mode(value: str) -> str:
    if value not in _AP_MODES:
        raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(_AP_MODES)}")
    return value


def _java_safemode(value: str) -> str:
    unknown = [name for name in value.split(",") if name and name not in JAVA_SAFEMODES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown guard {unknown[0]!r} (known: {', '.join(JAVA_SAFEMODES)})")
    return value


def _ap_start_extra(value: str | None) -> str | None:
    """An error for --java-async-profiler-args that would take over what the agent drives."""
    for item in (value or "").split(","):
        key = item.partition("=")[0].strip()
        if key in ("file", "start", "stop", "resume", "dump", "event", "interval", "collapsed", "jfr"):
            return f"--java-async-profiler-args: {key} is set by the agent"
    return None


def validate_options(args: argparse.Namespace) -> str | None:
    for dest, message in _REFUSED.items():
        if getattr(args, dest, None):
            return message
    return _ap_start_extra(getattr(args, "java_ap_args", None))


@dataclass(frozen=True)
class JavaOptions:
    async_profiler_path: str | None = option(
        None, "--java-async-profiler-path", help="libasyncProfiler.so to use in ap mode"
    )
    jattach_timeout: int = option(
        30,
        "--java-jattach-timeout",
        type=positive_integer,
        help="Seconds to wait for a JVM's attach socket and replies (default: %(default)s)",
    )
    no_version_check: bool = option(
        False,
        "--java-no-version-check",
        help="Profile JVMs whatever VM.version says (JFR needs 11+ or 8u262+)",
    )
    native_samples: bool = option(
        False,
        "--java-native-samples",
        help="Also count JFR's native method samples (threads in native code, running or "
        "waiting) in the CPU profile",
    )
    line_numbers: bool = option(
        False, "--java-line-numbers", help="Add line numbers to Java frames (Class.method:42)"
    )
    ap_mode: str = option(
        "auto",
        "--java-async-profiler-mode",
        type=_ap_mode,
        help="async-profiler's event: cpu (perf_events), itimer (setitimer), or auto: cpu where the "
        "JVM may open perf events, else itimer (default: %(default)s)",
    )
    ap_features: str | None = option(
        None, "--java-async-profiler-features", help="async-profiler's features= (e.g. vtable,comptask)"
    )
    ap_args: str | None = option(
        None,
        "--java-async-profiler-args",
        help="More options for async-profiler's start command, comma-separated (e.g. cstack=vm)",
    )
    safemode: str = option(
        ",".join(JAVA_SAFEMODES),
        "--java-safemode",
        type=_java_safemode,
        help="The guards kept, comma-separated: hserr (a JVM crash after profiling turns Java profiling "
        "off), version (JVMs whose version the engine does not support are left alone); '' for none "
        "(default: %(default)s)",
    )
    # gProfiler's, for async-profiler 2.x: refused (see _validate), never silently ignored
    ap_safemode: str | None = option(None, "--java-async-profiler-safemode", help=_REFUSED_HELP)
    ap_mcache: str | None = option(None, "--java-async-profiler-mcache", help=_REFUSED_HELP)
    ap_no_report_meminfo: bool = option(
        False,
        "--java-async-profiler-no-report-meminfo",
        help=_REFUSED_HELP,
    )
