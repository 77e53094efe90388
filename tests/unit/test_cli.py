"""Options, defaults, environment variables and config files, as gProfiler users know them."""

import subprocess
import sys
from pathlib import Path

import pytest

from gprofiler import __version__
from gprofiler.agent_cli import parse_agent_args


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("GPROFILER_"):
            monkeypatch.delenv(name)


def test_defaults_match_gprofiler() -> None:
    config = parse_agent_args(["-o", "/tmp/x"])
    assert config.duration == 60
    assert config.frequency == 11
    assert config.profilers["perf"].mode == "fp"
    assert config.profilers["perf"].options.dwarf_stack_size == 8192
    assert config.flamegraph is True
    assert config.continuous is False
    assert config.rotating_output is False
    assert config.pids is None
    assert config.log_file == "/var/log/gprofiler/gprofiler.log"
    assert config.log_rotate_max_size == 5 * 1024 * 1024
    assert config.log_rotate_backup_count == 1
    assert config.pid_file == "/var/run/gprofiler.pid"
    assert config.disable_core_files is True
    assert config.pid_ns_check is True


def test_short_and_long_options() -> None:
    output = ["-o", "/tmp/x", "-d", "5", "-f", "99", "-c", "--rotating-output", "--no-flamegraph", "-v"]
    profiling = ["--pids", "3,1", "--pids", "7", "--perf-mode", "smart", "--perf-dwarf-stack-size", "16384"]
    process = ["--dont-disable-core-files", "--disable-pidns-check", "--pid-file", "/tmp/p"]
    config = parse_agent_args([*output, *profiling, *process])
    assert (config.duration, config.frequency, config.continuous, config.rotating_output) == (
        5,
        99,
        True,
        True,
    )
    assert config.flamegraph is False and config.verbose is True
    assert config.pids == (3, 1, 7)
    assert (config.profilers["perf"].mode, config.profilers["perf"].options.dwarf_stack_size) == (
        "smart",
        16384,
    )
    assert config.disable_core_files is False and config.pid_ns_check is False
    assert config.pid_file == "/tmp/p"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPROFILER_OUTPUT_DIR", "/tmp/env-out")
    monkeypatch.setenv("GPROFILER_PROFILING_FREQUENCY", "47")
    monkeypatch.setenv("GPROFILER_PROFILING_DURATION", "9")
    monkeypatch.setenv("GPROFILER_CONTINUOUS", "true")
    monkeypatch.setenv("GPROFILER_NO_FLAMEGRAPH", "true")
    monkeypatch.setenv("GPROFILER_PERF_MODE", "dwarf")
    monkeypatch.setenv("GPROFILER_PIDS", "4,5")
    config = parse_agent_args([])
    assert str(config.output_dir) == "/tmp/env-out"
    assert (config.frequency, config.duration, config.continuous) == (47, 9, True)
    assert config.flamegraph is False
    assert config.profilers["perf"].mode == "dwarf"
    assert config.pids == (4, 5)
    # the command line wins over the environment
    assert parse_agent_args(["-f", "13"]).frequency == 13


def test_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text("output-dir = /tmp/ini-out\nprofiling-frequency = 31\ncontinuous = true\n")
    config = parse_agent_args(["--config", str(ini)])
    assert (str(config.output_dir), config.frequency, config.continuous) == ("/tmp/ini-out", 31, True)
    monkeypatch.setenv("GPROFILER_PROFILING_FREQUENCY", "17")
    assert parse_agent_args(["--config", str(ini)]).frequency == 17  # environment over file


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gprofiler", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "/tmp/x", "-f", "0"], "0 is not a positive integer"),
        (["-o", "/tmp/x", "-d", "abc"], "'abc' is not an integer"),
        (["-o", "/tmp/x", "--perf-mode", "magic"], "invalid choice: 'magic'"),
        (["-o", "/tmp/x", "--pids", "12,x"], "'x' is not a process ID"),
        ([], "Must pass at least one output method (--upload-results / --output-dir)"),
        (["-u", "--service-name", "svc"], "uploading needs --token"),
        (["-u", "--token", "t"], "uploading needs --service-name"),
        (["-u", "--token", "t", "--service-name", "a\nb"], "uploading needs --service-name"),
        (
            ["-u", "--token", "t", "--service-name", "s", "--server-host", "studio:8080"],
            "must start with http",
        ),
        (
            ["-u", "--token", "t", "--service-name", "s", "--spool-max-size", "0"],
            "0 is not a positive integer",
        ),
        (["-o", "/tmp/x", "--perf-mode", "dwarf", "-f", "101"], "can't be larger than 100"),
        (["-o", "/tmp/x", "--perf-dwarf-stack-size", "70000"], "maximum size is 65528"),
        (
            ["-o", "/tmp/x", "--perf-mode", "disabled", "--no-python", "--no-java", "--no-ruby", "--no-php"],
            "nothing to profile",
        ),
        (["-o", "/tmp/x", "--php-proc-filter", "php-fpm("], "not a regular expression"),
        (
            ["-o", "/tmp/x", "--nodejs-mode", "perf", "--perf-mode", "dwarf"],
            "requires --perf-mode fp or smart",
        ),
        (["-o", "/tmp/x", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        # gProfiler's options for async-profiler 2.x: refused, not silently ignored
        (["-o", "/tmp/x", "--java-async-profiler-safemode", "127"], "async-profiler 3.0 removed safemode"),
        (["-o", "/tmp/x", "--java-async-profiler-mcache", "30"], "removed the method cache option"),
        (["-o", "/tmp/x", "--java-async-profiler-no-report-meminfo"], "no meminfo command"),
        (["-o", "/tmp/x", "--java-async-profiler-args", "cstack=vm,file=/x"], "file is set by the agent"),
        (["-o", "/tmp/x", "--java-async-profiler-mode", "perf"], "'perf' is not one of cpu, itimer, auto"),
        (["-o", "/tmp/x", "--java-safemode", "hserr,oom"], "unknown guard 'oom'"),
    ],
)
def test_invalid_values_exit_2_with_one_clear_line(args: list[str], message: str) -> None:
    result = _run_cli(*args, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("gprofiler: error:")]
    assert len(error_lines) == 1
    assert message in error_lines[0]
    assert result.stdout == ""


def test_invalid_environment_value_exits_2() -> None:
    result = _run_cli("-o", "/tmp/x", env={"GPROFILER_PROFILING_FREQUENCY": "fast", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "'fast' is not an integer" in result.stderr


def test_version() -> None:
    result = _run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == __version__


def test_upload_settings_and_the_token_stays_out_of_the_profile_header() -> None:
    config = parse_agent_args(
        ["-u", "--token", "SECRET", "--service-name", "checkout", "--server-host", "https://s/"]
    )
    assert config.output_dir is None and config.upload is not None
    assert config.upload.server.token == "SECRET"
    assert config.upload.server.server_host == "https://s"
    assert config.upload.api_server == "https://s"
    assert config.upload.spool_max_bytes == 256 * 1024 * 1024
    assert "token" not in config.run_arguments
    assert "SECRET" not in repr(config.run_arguments)
