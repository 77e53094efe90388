"""Node.js: JavaScript frames from V8's perf maps, which perf resolves itself.

- `perf` mode: node was started with `--perf-basic-prof` and writes /tmp/perf-<pid>.map; perf (>= 5.x)
  reads it, also inside another mount/PID namespace (as /proc/PID/root/tmp/perf-<nspid>.map). The
  agent writes JavaScript frames in one form, `name file:line_[js]` (`js_frame`).
- `attach-maps` mode: the agent turns perf maps on in a node that was started without the flag, by
  loading the linux-perf addon (built from npm at setup) through node's inspector, and turns them
  off again, deleting the map, when it stops.
"""

import argparse
import concurrent.futures
import contextlib
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from gprofiler.discovery.catalog import DiscoveredProcess
from gprofiler.discovery.rootfs import makedirs_in_root, open_in_root, rmdir_in_root, unlink_in_root
from gprofiler.discovery.runtimes import NODEJS
from gprofiler.profilers.base import NoResults, ProfilerContext, ProfilerUnavailableError, RuntimeProfiler
from gprofiler.profilers.registry import NoOptions, ProfilerSpec
from gprofiler.stacks.model import StackCounts

logger = logging.getLogger(__name__)

JS_SUFFIX = "_[js]"
# V8 code kinds that are JavaScript. Perf map names are "<Kind>:<tier><name> <script>:<line>[:<column>]":
# `JS:*f /a.js:2:15` from node --perf-basic-prof (the tier: ~ interpreted, ^ Sparkplug, + Maglev,
# * TurboFan), `Function:f /a.js:2` from the linux-perf addon (attach-maps), `LazyCompile:*f ...` from
# older nodes. `Function::Call` is V8's C++ (v8::Function::Call), not JavaScript.
_JS_FRAME = re.compile(
    r"^(?:JS|Function|LazyCompile|InterpretedFunction|Script|Eval):(?!:)[*~^+]?(.*)$", re.DOTALL
)
_LOCATION = re.compile(r"^(.+?):(\d+)(?::\d+)?$", re.DOTALL)
ANONYMOUS = "(anonymous)"
_MODULE_DIR = "/tmp/.gprofiler-node"
_ATTACH_TIMEOUT_S = 10.0
_START_EXPRESSION = (
    "(() => {{ if (!globalThis.__gprofilerPerfMap) {{ const m = {{ exports: {{}} }}; "
    'process.dlopen(m, "{module}"); globalThis.__gprofilerPerfMap = new m.exports.LinuxPerf(); }} '
    "return globalThis.__gprofilerPerfMap.start(); }})()"
)
_STOP_EXPRESSION = "globalThis.__gprofilerPerfMap ? globalThis.__gprofilerPerfMap.stop() : false"


def js_frame(frame: str) -> str | None:
    """A perf map's JavaScript frame in one form whatever wrote it and whichever tier V8 compiled the
    function in: `name file:line_[js]` (the function's first line; the column, which only
    --perf-basic-prof gives, and the tier are dropped, so one function is one frame). None for a
    frame that is not JavaScript."""
    match = _JS_FRAME.match(frame)
    if match is None:
        return None
    text = match.group(1)
    if " " not in text:  # no script: the whole text is the name
        return f"{text or ANONYMOUS}{JS_SUFFIX}"
    name, _, location = text.rpartition(" ")
    where = _LOCATION.match(location)
    if where is not None:
        return f"{name or ANONYMOUS} {where.group(1)}:{where.group(2)}{JS_SUFFIX}"
    if not name:  # a script without a line: `Script:~ /a.js`
        return f"{ANONYMOUS} {location}{JS_SUFFIX}"
    return f"{text}{JS_SUFFIX}"


def mark_js_frames(counts: StackCounts) -> StackCounts:
    """JavaScript frames in one form (`js_frame`) with `_[js]`; the process name and native frames
    are left alone."""
    marked: StackCounts = Counter()
    for stack, count in counts.items():
        frames = (frame if frame.endswith(JS_SUFFIX) else js_frame(frame) or frame for frame in stack[1:])
        new_stack = (stack[0], *frames)
        marked[new_stack] += count
    return marked


def node_major(version: str | None) -> str | None:
    match = re.match(r"v(\d+)\.", version or "")
    return match.group(1) if match else None


def bundled_addon(major: str) -> Path | None:
    """linux-perf.node built for this Node.js major version, if the package carries one."""
    addon = resources.files("gprofiler") / "resources" / "nodejs" / f"node{major}" / "linux-perf.node"
    return Path(str(addon)) if addon.is_file() else None


class NodeProfiler(RuntimeProfiler):
    name = "nodejs"
    runtime = NODEJS

    def __init__(self, context: ProfilerContext, mode: str, options: NoOptions) -> None:
        self.context = context
        self.mode = mode
        self._attached: dict[tuple[int, int], DiscoveredProcess] = {}
        self._installed: dict[tuple[int, int], tuple[Path, str]] = {}  # process -> (its root, addon path)
        self._tried: set[tuple[int, int]] = set()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._cancel = threading.Event()  # stops attaches in flight when the agent stops

    def start(self) -> None:
        if self.mode == "attach-maps":
            addons = resources.files("gprofiler") / "resources" / "nodejs"
            if not addons.is_dir():
                raise ProfilerUnavailableError("the linux-perf addon is not in the package (./dev.sh setup)")
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=4, thread_name_prefix="node-attach"
            )

    def rewrite_perf_stacks(self, process: DiscoveredProcess, counts: StackCounts) -> StackCounts:
        return mark_js_frames(counts)

    def begin_cycle(self, processes: list[DiscoveredProcess], cpu: Mapping[int, float]) -> NoResults:
        if self._pool is not None:
            for process in processes:
                if process.info.key not in self._tried:
                    self._tried.add(process.info.key)
                    self._pool.submit(self._attach_logged, process)
        return NoResults()

    def _root(self, process: DiscoveredProcess) -> Path:
        return self.context.proc_root / str(process.pid) / "root"

    def _map_path(self, process: DiscoveredProcess) -> str:
        return f"/tmp/perf-{process.info.nspid}.map"

    def _attach_logged(self, process: DiscoveredProcess) -> None:
        from gprofiler.profilers.nodejs.inspector import InspectorError

        try:
            self._attach(process)
        except (OSError, InspectorError, ProfilerUnavailableError) as error:
            logger.warning("attach-maps: cannot enable perf maps in node pid %d: %s", process.pid, error)

    def _attach(self, process: DiscoveredProcess) -> None:
        # Imported here: the DevTools client (websocket-client) is needed in attach-maps mode only.
        from gprofiler.profilers.nodejs.inspector import InspectorError, InspectorSession

        root = self._root(process)
        try:
            os.close(open_in_root(root, self._map_path(process)))
            logger.info("node pid %d already writes a perf map; not attaching", process.pid)
            return
        except OSError:
            pass
        major = node_major((process.metadata or {}).get("node_version"))
        addon = bundled_addon(major) if major else None
        if addon is None:
            raise ProfilerUnavailableError(f"no linux-perf addon for Node.js {major or '(unknown version)'}")
        module = self._install_addon(root, addon)
        self._installed[process.info.key] = (root, module)
        session = InspectorSession.open(self.context.proc_root, process.pid, _ATTACH_TIMEOUT_S, self._cancel)
        try:
            started = session.evaluate(_START_EXPRESSION.format(module=module))
        finally:
            session.close()
        if started is not True:
            raise InspectorError(f"linux-perf did not start (returned {started!r})")
        self._attached[process.info.key] = process
        logger.info("attach-maps: node pid %d now writes %s", process.pid, self._map_path(process))

    def _install_addon(self, root: Path, addon: Path) -> str:
        """Copy the addon into the process's filesystem (its mount namespace), readable by any user."""
        directory = f"{_MODULE_DIR}-{os.getpid()}"
        target = f"{directory}/{addon.parent.name}-linux-perf.node"
        makedirs_in_root(root, directory, 0o755)
        try:
            fd = open_in_root(root, target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return target
        with os.fdopen(fd, "wb") as out:
            out.write(addon.read_bytes())
        return target

    def stop(self) -> None:
        from gprofiler.profilers.nodejs.inspector import InspectorError

        self._cancel.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for key, (root, module) in list(self._installed.items()):
            if key not in self._attached:  # copied, but attaching failed: remove the copy
                self._remove_addon(root, module)
                del self._installed[key]
        for process in self._attached.values():
            try:
                self._detach(process)
            except (OSError, InspectorError) as error:
                logger.warning(
                    "attach-maps: cannot turn perf maps off in node pid %d: %s", process.pid, error
                )
        self._attached.clear()

    @staticmethod
    def _remove_addon(root: Path, module: str) -> None:
        """The addon copy and its directory (node keeps its own mapping of the file)."""
        with contextlib.suppress(OSError):
            unlink_in_root(root, module)
            rmdir_in_root(root, module.rsplit("/", 1)[0])

    def _detach(self, process: DiscoveredProcess) -> None:
        from gprofiler.profilers.nodejs.inspector import InspectorSession

        root = self._root(process)
        if os.path.exists(self.context.proc_root / str(process.pid)):
            session = InspectorSession.open(self.context.proc_root, process.pid, _ATTACH_TIMEOUT_S)
            try:
                session.evaluate(_STOP_EXPRESSION)
            finally:
                session.close()
        unlink_in_root(root, self._map_path(process))
        installed = self._installed.pop(process.info.key, None)
        if installed is not None:
            self._remove_addon(*installed)
        logger.info("attach-maps: perf maps off in node pid %d, map removed", process.pid)


def _validate(args: argparse.Namespace) -> str | None:
    if args.perf_mode not in ("fp", "smart"):
        return "--nodejs-mode perf or attach-maps requires --perf-mode fp or smart"
    return None


SPEC = ProfilerSpec(
    name="nodejs",
    modes=("perf", "attach-maps", "disabled"),
    default_mode="disabled",
    mode_help="Node.js: perf (JavaScript frames from the perf maps of nodes started with "
    "--perf-basic-prof), attach-maps (turn perf maps on in running nodes through the inspector), "
    "or disabled (perf still resolves existing maps, frames are just not marked)",
    options_type=NoOptions,
    factory=NodeProfiler,
    validate=_validate,
)
