"""The agent's PHP sampler against Debian's PHP (php-cli and php-fpm 8.2): its table of the Zend
engine's structures against PHP's own headers, its frames against what PHP itself reports
(`debug_backtrace()`), php-fpm workers serving requests, a process in its own PID and mount
namespaces, awkward stacks and names, and processes that exit or cannot be read."""

import dataclasses
import json
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from gprofiler.discovery.catalog import ProcessCatalog
from gprofiler.profilers.base import ProfilerContext
from gprofiler.profilers.php.layouts import LAYOUTS, PhpLayout
from gprofiler.profilers.php.profiler import PHP_SUFFIX, PhpOptions, PhpProfiler, php_target
from gprofiler.profilers.sampling import SamplerCycle
from gprofiler.stacks.escaping import escape_frame
from tests.integration.conftest import TARGETS, AgentFiles, parse_profile, running, wait_for
from tests.integration.fastcgi import request

PHP = "/usr/bin/php8.2"
PHP_FPM = "/usr/sbin/php-fpm8.2"

# Each field of PhpLayout as the C expression that defines it.
_C_EXPRESSIONS = {
    "eg_current_execute_data": "offsetof(zend_executor_globals, current_execute_data)",
    "ed_opline": "offsetof(zend_execute_data, opline)",
    "ed_func": "offsetof(zend_execute_data, func)",
    "ed_prev": "offsetof(zend_execute_data, prev_execute_data)",
    "fn_type": "offsetof(zend_function, type)",
    "fn_name": "offsetof(zend_function, common.function_name)",
    "fn_scope": "offsetof(zend_function, common.scope)",
    "op_filename": "offsetof(zend_op_array, filename)",
    "op_line_start": "offsetof(zend_op_array, line_start)",
    "ce_name": "offsetof(zend_class_entry, name)",
    "str_type_info": "offsetof(zend_string, gc.u.type_info)",
    "str_len": "offsetof(zend_string, len)",
    "str_val": "offsetof(zend_string, val)",
    "op_lineno": "offsetof(zend_op, lineno)",
}
_CONSTANTS = {
    "ZEND_INTERNAL_FUNCTION": "ZEND_INTERNAL_FUNCTION",
    "ZEND_USER_FUNCTION": "ZEND_USER_FUNCTION",
    "ZEND_EVAL_CODE": "ZEND_EVAL_CODE",
    "IS_STRING": "IS_STRING",
    "ZEND_INTERNAL_CLASS": "ZEND_INTERNAL_CLASS",
    "ZEND_USER_CLASS": "ZEND_USER_CLASS",
}


@pytest.fixture(scope="module")
def php() -> str:
    if not Path(PHP).exists():
        pytest.fail("php8.2 is missing (./dev.sh setup-test installs php-cli and php-fpm)")
    return PHP


def _version(php: str) -> str:
    out = subprocess.run([php, "-r", "echo PHP_VERSION;"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_layout_table_is_what_phps_headers_say(php: str, tmp_path: Path) -> None:
    from gprofiler.profilers.php import layouts

    config = shutil.which("php-config8.2") or shutil.which("php-config")
    if config is None:
        pytest.fail("PHP's headers are missing (./dev.sh setup-test installs php8.2-dev)")
    includes = subprocess.run(
        [config, "--includes"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert set(_C_EXPRESSIONS) == set(PhpLayout.__dataclass_fields__) - {"version"}
    expressions = {**_C_EXPRESSIONS, **_CONSTANTS}
    source = ["#define _GNU_SOURCE", '#include "php.h"', '#include "zend_globals.h"', "#include <stdio.h>"]
    source += ["int main(void) {"]
    source += [f'    printf("{name} %zu\\n", (size_t)({expr}));' for name, expr in expressions.items()]
    source += ["    return 0;", "}"]
    (tmp_path / "offsets.c").write_text("\n".join(source) + "\n")
    compile_command = ["gcc", *includes, "-o", str(tmp_path / "offsets"), str(tmp_path / "offsets.c")]
    subprocess.run(compile_command, check=True, capture_output=True)
    printed = subprocess.run([str(tmp_path / "offsets")], capture_output=True, text=True, check=True).stdout
    from_headers = {name: int(value) for name, value in (line.split() for line in printed.splitlines())}
    layout = LAYOUTS[_version(php).rsplit(".", 1)[0]]
    assert {name: getattr(layout, name) for name in _C_EXPRESSIONS} == {
        name: from_headers[name] for name in _C_EXPRESSIONS
    }
    assert {name: getattr(layouts, name) for name in _CONSTANTS} == {
        name: from_headers[name] for name in _CONSTANTS
    }


def _profiler(proc_filter: str = ".") -> PhpProfiler:
    context = ProfilerContext(50, 4, threading.Event(), Path("/tmp"), Path("/proc"))
    return PhpProfiler(context, "phpspy", PhpOptions(proc_filter=proc_filter))


def _sample(pid: int, seconds: int, rate: int = 50) -> Counter[tuple[str, ...]]:
    """The sampler's stacks of one process (comm first) over `seconds`."""
    process = ProcessCatalog().lookup(pid)
    assert process is not None, "the catalog does not see the target"
    runtime = _profiler()._find(process)
    assert runtime is not None and not isinstance(runtime, str), runtime
    cycle = SamplerCycle(
        [php_target(process, runtime, Path("/proc"), (rate, seconds))], Path("/proc"), False, "t"
    )
    result = cycle.results(seconds + 10)[pid]
    assert result.error is None and result.stacks, result
    return Counter({stack[1:]: count for stack, count in result.stacks.items()})


def _expected_chain(
    trace: list[dict[str, object]], leaf_file: str, main_file: str
) -> list[tuple[str, str, int]]:
    """What debug_backtrace() (called in gp_leaf, innermost first) says the frames are, root first,
    as (name, file, line) with the leaf's line left out (it moves): each entry names a function and
    where it was called from, so a frame's file and line are those of the entry before it; an
    `include` is the included file's top-level code (`<main>` in that file)."""
    frames: list[tuple[str, str, int]] = []
    file_of_callee = leaf_file
    for index, entry in enumerate(trace):
        function = str(entry["function"])
        if function == "include":
            name = "<main>"
        elif "class" in entry:
            name = f"{entry['class']}::{function}"
        else:
            name = function
        line = int(trace[index - 1].get("line", -1)) if index else -1  # type: ignore[call-overload]
        frames.append((name, file_of_callee, line))
        if "file" in entry:  # a generator resumed by Generator::next has no call site of its own
            file_of_callee = str(entry["file"])
    frames.append(("<main>", main_file, int(trace[-1]["line"])))  # type: ignore[call-overload]
    frames.reverse()
    return frames


def _text(name: str, file: str | None, line: int) -> str:
    return escape_frame(f"{name} {file}:{line}" if file else name) + PHP_SUFFIX


def test_frames_agree_with_debug_backtrace(php: str, tmp_path: Path) -> None:
    folder = tmp_path / "gp_shapes"
    shutil.copytree(TARGETS / "php", folder)
    traces = tmp_path / "traces.jsonl"
    with running(php, folder / "shapes.php", traces, "30"):
        wait_for(
            lambda: traces.exists() and len(traces.read_text().splitlines()) == 6, 20, "six shapes traced"
        )
        stacks = _sample(_pid_of(folder / "shapes.php"), 4)
    seen: dict[str, tuple[str, ...]] = {}
    for line in traces.read_text().splitlines():
        record = json.loads(line)
        trace = record["trace"]
        chain = _expected_chain(trace, str(folder / "shapes.php"), str(folder / "shapes.php"))
        # Generator::next is an internal function: a frame with no file or line
        expected = [
            _text(name, None if name == "Generator::next" else file, line) for name, file, line in chain
        ]
        matching = [
            stack for stack in stacks if len(stack) == len(expected) and list(stack[:-1]) == expected[:-1]
        ]
        assert matching, f"{record['shape']}: no stack {expected} in {list(stacks)[:10]}"
        assert all(stack[-1].startswith(f"gp_leaf {folder / 'shapes.php'}:") for stack in matching)
        seen[record["shape"]] = max(matching, key=lambda stack: stacks[stack])
    assert set(seen) == {"plain", "method", "static", "closure", "include", "generator"}
    # Nearly every sample is one of the six shapes, whole: a torn read is dropped, never mixed
    whole = sum(count for stack, count in stacks.items() if len(stack) >= 3 and "gp_leaf" in stack[-1])
    assert whole > 0.9 * sum(stacks.values())


def _pid_of(script: Path) -> int:
    out = subprocess.run(["pgrep", "-f", str(script)], capture_output=True, text=True)
    pids = [int(pid) for pid in out.stdout.split()]
    assert len(pids) == 1, pids
    return pids[0]


def _leaf_share(stacks: Counter[tuple[str, ...]], leaf: str) -> float:
    """Share of the samples whose innermost frame starts with `leaf`."""
    total = sum(stacks.values())
    return sum(count for stack, count in stacks.items() if stack[-1].startswith(leaf)) / total if total else 0


def test_agent_shows_a_php_scripts_functions(php: str, agent: AgentFiles, tmp_path: Path) -> None:
    folder = tmp_path / "gp_cli"
    shutil.copytree(TARGETS / "php", folder)
    script = folder / "shapes.php"
    with running(php, script, tmp_path / "traces.jsonl", "30"):
        result = agent.run("-d", "4", "--php-mode", "phpspy", "--php-proc-filter", "^php")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    stacks = profile.of_app(str(script))
    assert sum(stacks.values()) > 0.5 * 4 * 11
    mid = f"gp_mid {script}:28{PHP_SUFFIX}"
    leaf = f"gp_leaf {script}:"
    chains = sum(count for stack, count in stacks.items() if mid in stack and stack[-1].startswith(leaf))
    assert chains > 0.05 * sum(stacks.values()), list(stacks)[:5]
    assert profile.appid_of(str(script)) == {f"appid: php: {script} ({script})"}
    assert profile.metadata["php8.2"] == {"exe": PHP, "php_version": _version(php)}


def test_php_cli_is_left_to_perf_by_the_default_filter_or_when_off(
    php: str, agent: AgentFiles, tmp_path: Path
) -> None:
    script = tmp_path / "gp_default.php"
    shutil.copy(TARGETS / "php" / "shapes.php", script)
    shutil.copy(TARGETS / "php" / "shapes_include.php", tmp_path)
    with running(php, script, tmp_path / "traces.jsonl", "30"):
        # gProfiler's filter (php-fpm only), then every PHP process but the profiler off
        for args in (("-d", "2"), ("-d", "2", "--no-php", "--php-proc-filter", ".")):
            result = agent.run(*args)
            assert result.returncode == 0, result.stderr
            frames = parse_profile(agent.output / "last_profile.col").of_app(str(script))
            assert frames and not any(frame.endswith(PHP_SUFFIX) for stack in frames for frame in stack)


def _fpm_config(folder: Path) -> Path:
    config = folder / "fpm.conf"
    config.write_text(
        "[global]\n"
        f"pid = {folder}/fpm.pid\n"
        f"error_log = {folder}/fpm.log\n"
        "daemonize = no\n"
        "[gp_test_pool]\n"
        f"listen = {folder}/fpm.sock\n"
        "pm = static\n"
        "pm.max_children = 2\n"
    )
    return config


def test_php_fpm_workers_serving_requests(php: str, agent: AgentFiles, tmp_path: Path) -> None:
    folder = tmp_path / "gp_fpm"
    shutil.copytree(TARGETS / "php", folder)
    script = str(folder / "web.php")
    stop = threading.Event()
    served: list[bytes] = []

    def client() -> None:
        while not stop.is_set():
            served.append(request(str(folder / "fpm.sock"), script))

    with running(PHP_FPM, "--nodaemonize", "--allow-to-run-as-root", "--fpm-config", _fpm_config(folder)):
        wait_for(lambda: (folder / "fpm.sock").exists(), 20, "php-fpm's socket")
        clients = [threading.Thread(target=client) for _ in range(2)]
        for thread in clients:
            thread.start()
        try:
            result = agent.run("-d", "4")  # on by default, with gProfiler's filter: php-fpm
        finally:
            stop.set()
            for thread in clients:
                thread.join(30)
    assert result.returncode == 0, result.stderr
    assert served and all(b"\r\n\r\nrendered " in response for response in served), served[:1]
    profile = parse_profile(agent.output / "last_profile.col")
    stacks = profile.of_app("php-fpm: pool gp_test_pool")
    render = f"gp_render {script}:"
    handle = f"gp_handle {script}:18{PHP_SUFFIX}"
    rendering = sum(
        count for stack, count in stacks.items() if handle in stack and any(render in f for f in stack)
    )
    assert rendering > 0.5 * sum(stacks.values()), list(stacks)[:5]
    assert profile.appid_of("php-fpm: pool") == {"appid: php-fpm: pool gp_test_pool"}


def test_php_in_its_own_pid_and_mount_namespace(php: str, agent: AgentFiles, tmp_path: Path) -> None:
    folder = tmp_path / "gp_namespaced"
    shutil.copytree(TARGETS / "php", folder)
    script = folder / "shapes.php"
    command = ["unshare", "--pid", "--fork", "--mount-proc", "--mount", php, str(script), "/dev/null", "30"]
    with running(*command):
        time.sleep(0.5)
        result = agent.run("-d", "4", "--php-mode", "phpspy", "--php-proc-filter", "^php")
    assert result.returncode == 0, result.stderr
    stacks = parse_profile(agent.output / "last_profile.col").of_app(str(script))
    assert _leaf_share(stacks, f"gp_leaf {script}:") > 0.8


def test_deep_recursion_and_odd_names(php: str, tmp_path: Path) -> None:
    folder = tmp_path / "gp_hostile"
    folder.mkdir()
    script = folder / "hostile.php"
    shutil.copy(TARGETS / "php" / "hostile.php", script)
    odd = folder / "gp;odd\u2028file.php"
    odd.write_text("<?php\ngp_ünïcode_名前();\n")
    with running(php, script, "30", odd):
        stacks = _sample(_pid_of(script), 3)
    deep = [stack for stack in stacks if len(stack) >= 702]
    assert deep, "no 700-deep stack"
    assert all(stack[0].startswith(f"<main> {script}:") for stack in deep)
    assert all(frame.startswith("gp_recurse ") for stack in deep for frame in stack[1:701])
    unicode_leaf = f"gp_ünïcode_名前 {script}:"
    assert any(stack[-1].startswith(unicode_leaf) for stack in deep)
    included = escape_frame(f"<main> {odd}:2") + PHP_SUFFIX
    assert "\u2028" not in included and ";" not in included
    assert any(included in stack for stack in stacks), [s for s in stacks if len(s) < 5][:5]


def test_a_process_that_exits_mid_cycle_costs_only_its_own_frames(
    php: str, agent: AgentFiles, tmp_path: Path
) -> None:
    folder = tmp_path / "gp_exits"
    shutil.copytree(TARGETS / "php", folder)
    staying, leaving = folder / "shapes.php", folder / "leaving.php"
    shutil.copy(staying, leaving)
    with running(php, staying, "/dev/null", "30"), running(php, leaving, "/dev/null", "2"):
        result = agent.run("-d", "5", "--php-mode", "phpspy", "--php-proc-filter", "^php")
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    stays = profile.of_app(str(staying))
    assert _leaf_share(stays, f"gp_leaf {staying}:") > 0.8
    assert not any(
        "Profiling error" in frame for stack in profile.stacks for frame in stack if "php" in frame
    )


def test_an_unsupported_version_is_said_once_not_guessed(php: str, tmp_path: Path) -> None:
    script = tmp_path / "gp_unsupported.php"
    shutil.copy(TARGETS / "php" / "shapes.php", script)
    shutil.copy(TARGETS / "php" / "shapes_include.php", tmp_path)
    with running(php, script, "/dev/null", "30") as target:
        time.sleep(0.5)
        process = ProcessCatalog().lookup(target.pid)
        assert process is not None and process.metadata is not None
        assert process.metadata["php_version"] == _version(php)  # read from the real binary
        # The same process as a PHP this sampler has no table for (8.5 is not in LAYOUTS)
        future = dataclasses.replace(process, metadata={**process.metadata, "php_version": "8.5.1"})
        profiler = _profiler()
        assert profiler.wants(future)
        first = profiler.begin_cycle([future], {future.pid: 1.0}).results(10)
        assert first[future.pid].error == "PHP 8.5 is not supported"
        assert first[future.pid].stacks is None
        assert not profiler.wants(future)  # said once; later cycles leave it to perf
