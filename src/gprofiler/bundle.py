"""The tools the single-file executable carries, and how children are started from inside it.

The executable (scripts/build_executable.sh) is a PyInstaller one-file program wrapped by StaticX:
- StaticX unpacks glibc, the dynamic loader and every shared library the agent and its tools need
  into a private directory named by $STATICX_BUNDLE_DIR;
- PyInstaller unpacks the Python code and `gprofiler/resources/bin/{perf,py-spy}` into its own
  private directory, and points LD_LIBRARY_PATH of the agent at it.

Two consequences for every child the agent starts (`runner.ChildProcess` applies both):
- a bundled dynamic tool (perf) has no loader on a host where nothing is installed, so it is run
  through StaticX's loader with the bundle's libraries (`launch_argv`);
- a host tool must not inherit PyInstaller's LD_LIBRARY_PATH, or it loads the bundle's libraries
  instead of its own (`child_environment`).
Outside the executable (a pip install) both are no-ops.
"""

import functools
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from gprofiler.discovery.elf import read_sections

logger = logging.getLogger(__name__)

_STATICX_DIR_VARIABLE = "STATICX_BUNDLE_DIR"
_STATICX_LOADER = ".staticx.interp"
# PyInstaller saves the user's own LD_LIBRARY_PATH here before it prepends its directory.
_ORIGINAL_LIBRARY_PATH = "LD_LIBRARY_PATH_ORIG"


def tools_dir() -> Path:
    """Where the executable keeps its tools (absent from a pip install)."""
    return Path(str(resources.files("gprofiler") / "resources" / "bin"))


def bundled_tool(name: str) -> str | None:
    """The path of a tool shipped inside the package (the executable's perf and py-spy), if any."""
    candidate = tools_dir() / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return None


def is_frozen() -> bool:
    """True inside the PyInstaller executable."""
    return bool(getattr(sys, "frozen", False))


def _staticx_dir() -> Path | None:
    directory = os.environ.get(_STATICX_DIR_VARIABLE)
    if directory and (Path(directory) / _STATICX_LOADER).is_file():
        return Path(directory)
    return None


@functools.cache
def _needs_loader(path: str) -> bool:
    """A dynamically linked ELF (it names a program interpreter); static ones run as they are."""
    try:
        with open(path, "rb") as file:
            sections = read_sections(file)
    except OSError:
        return False
    return sections is not None and ".interp" in sections


def _is_bundled(path: str) -> bool:
    return Path(path).parent == tools_dir()


@functools.cache
def _loader_named(staticx_dir: Path, tool: str) -> str:
    """StaticX's loader under the tool's name, so the child's comm (in ps and in the profile) is `perf`.

    The kernel names a process after the file it executes; the loader behaves the same whatever it
    is called. The link lives in StaticX's private directory, which is removed when the agent exits.
    """
    loader = staticx_dir / _STATICX_LOADER
    link = staticx_dir / ".gprofiler-tools" / tool
    try:
        link.parent.mkdir(mode=0o700, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(loader)
        return str(link)
    except OSError as error:
        logger.debug("cannot name the loader %s: %s", link, error)
        return str(loader)


def launch_argv(argv: Sequence[str]) -> list[str]:
    """The command line that actually starts `argv`: through the bundle's loader for bundled dynamic tools."""
    staticx_dir = _staticx_dir()
    if staticx_dir is None or not _is_bundled(argv[0]) or not _needs_loader(argv[0]):
        return list(argv)
    loader = _loader_named(staticx_dir, os.path.basename(argv[0]))
    return [loader, "--library-path", str(staticx_dir), *argv]


def child_environment(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """The environment for a child: the caller's, minus the library path PyInstaller injected."""
    if not is_frozen():
        return dict(env) if env is not None else None
    result = dict(env if env is not None else os.environ)
    original = result.pop(_ORIGINAL_LIBRARY_PATH, None)
    if original is not None:
        result["LD_LIBRARY_PATH"] = original
    else:
        result.pop("LD_LIBRARY_PATH", None)
    return result
