"""Java processes over HotSpot's attach socket, with each engine: JFR (nothing injected) and
async-profiler (bundled from Maven Central; the default): the stacks, the JVMs of other users and
namespaces, and nothing left running or behind."""

import json
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from gprofiler.profilers.java.async_profiler import DIRECTORY, create_output, loaded_library
from gprofiler.profilers.java.attach import JvmTarget, execute
from tests.integration.conftest import AgentFiles, parse_profile, running, wait_for

JVM_AGE = 3.5  # the agent leaves JVMs younger than 3 s alone
CHAIN = ("Busy.main", "Busy.spin", "Busy.mid", "Busy.leaf")
JAVA_FRAME = ("_[j]", "_[i]")  # async-profiler marks a method inlined into its caller `_[i]`


def _busy_share(stacks: Counter[tuple[str, ...]]) -> float:
    total = sum(stacks.values())
    hits = 0
    for stack, count in stacks.items():
        names = tuple(frame[:-4] if frame.endswith(JAVA_FRAME) else frame for frame in stack)
        if any(names[i : i + 4] == CHAIN for i in range(len(names))):
            hits += count
    return hits / total if total else 0.0


def _leftovers() -> list[Path]:
    """What a cycle leaves in /tmp: JFR's recordings and settings, async-profiler's outputs."""
    found = [p for p in Path("/tmp").glob("gprofiler-*") if p.suffix in (".jfr", ".jfc", ".collapsed")]
    return found + list(Path(DIRECTORY).glob("*.collapsed"))


def _ap_status(pid: int) -> str:
    """async-profiler's own `status` in a JVM (run as root here)."""
    library = loaded_library(Path("/proc"), pid)
    assert library is not None, "async-profiler is not loaded"
    target = JvmTarget(pid, pid, 0, 0)
    output = f"{DIRECTORY}/status-{pid}.txt"
    create_output(target, output)
    try:
        execute(target, "load", library, "true", f"status,file={output}", timeout=10)
        return Path(output).read_text()
    finally:
        Path(output).unlink(missing_ok=True)


def _engine_idle(pid: int, engine: str) -> None:
    """No recording (JFR) or no profiling (async-profiler) left active in the JVM."""
    if engine == "jfr":
        recordings = subprocess.run(["jcmd", str(pid), "JFR.check"], capture_output=True, text=True).stdout
        assert "No available recordings" in recordings, recordings
    else:
        assert "not active" in _ap_status(pid)


@pytest.fixture(params=["jfr", "ap"])
def engine(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


def test_busy_jvm_in_java_frames(agent: AgentFiles, java_classes: Path, engine: str) -> None:
    with running("java", "-cp", java_classes, "Busy", "60") as jvm:
        time.sleep(JVM_AGE)
        result = agent.run("-d", "4", "--java-mode", engine)
        _engine_idle(jvm.pid, engine)
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    busy = profile.of_app("java: Busy")
    assert sum(busy.values()) > 0.5 * 4 * 11
    assert _busy_share(busy) > 0.8
    metadata = profile.metadata["java"]
    assert isinstance(metadata, dict) and metadata["java_version"].startswith("17.")
    assert "MaxHeapSize" in metadata["jvm_flags"]
    assert not _leftovers()


def test_jvm_of_an_unprivileged_user(agent: AgentFiles, java_classes: Path, engine: str) -> None:
    command = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "java",
        "-cp",
        str(java_classes),
    ]
    with running(*command, "Busy", "60", cwd=Path("/tmp")):
        time.sleep(JVM_AGE)
        result = agent.run("-d", "4", "--java-mode", engine)
    assert result.returncode == 0, result.stderr
    assert _busy_share(parse_profile(agent.output / "last_profile.col").of_app("java: Busy")) > 0.8
    assert not _leftovers()


def test_jvm_in_its_own_pid_and_mount_namespace(agent: AgentFiles, java_classes: Path, engine: str) -> None:
    command = ["unshare", "--pid", "--fork", "--mount-proc", "--mount", "java", "-cp", str(java_classes)]
    with running(*command, "Busy", "60"):
        time.sleep(JVM_AGE)
        result = agent.run("-d", "4", "--java-mode", engine)
    assert result.returncode == 0, result.stderr
    assert _busy_share(parse_profile(agent.output / "last_profile.col").of_app("java: Busy")) > 0.8


def test_stale_attach_socket_left_by_another_user_is_replaced(agent: AgentFiles, java_classes: Path) -> None:
    """A killed root JVM's /tmp/.java_pid1 meets a new JVM that is PID 1 in its namespace, run as nobody.

    The JVM cannot rename its socket over root's file in the sticky /tmp, so without clearing the
    stale one it would never answer.
    """
    stale = Path("/tmp/.java_pid1")
    stale.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX) as leftover:
        leftover.bind(str(stale))  # a socket file nobody listens on, owned by root
    command = ["unshare", "--pid", "--fork", "--mount-proc", "--mount", "setpriv", "--reuid=65534",
               "--regid=65534", "--clear-groups", "java", "-cp", str(java_classes)]  # fmt: skip
    with running(*command, "Busy", "60", cwd=Path("/tmp")):
        time.sleep(JVM_AGE)
        result = agent.run("-d", "4")
    assert result.returncode == 0, result.stderr
    assert _busy_share(parse_profile(agent.output / "last_profile.col").of_app("java: Busy")) > 0.8
    assert "removed the stale attach socket /tmp/.java_pid1" in agent.log.read_text()


def test_jvm_exiting_mid_cycle_gets_an_error_frame(
    agent: AgentFiles, java_classes: Path, busy_fp: Path, engine: str
) -> None:
    with running("java", "-cp", java_classes, "Busy", "6"), running(busy_fp, "60"):
        time.sleep(JVM_AGE)
        result = agent.run("-d", "5", "--java-mode", engine)  # the JVM exits 2.5 s into the cycle
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    busy = profile.of_app("java: Busy")
    assert busy and all(stack[0] == "[Profiling error: the JVM exited during the cycle]" for stack in busy)
    assert profile.of_process("gp_busy_fp")  # the rest of the profile is intact


def test_attach_disabled_fails_fast(agent: AgentFiles, java_classes: Path) -> None:
    with running("java", "-XX:+DisableAttachMechanism", "-cp", java_classes, "Busy", "60"):
        time.sleep(JVM_AGE)
        started = time.monotonic()
        result = agent.run("-d", "3")
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    busy = parse_profile(agent.output / "last_profile.col").of_app("java: Busy")
    assert busy and all(
        stack[0] == "[Profiling error: attach disabled (-XX:+DisableAttachMechanism)]" for stack in busy
    )
    assert elapsed < 3 + 5


def test_attach_timeout_keeps_the_cycle_on_time(agent: AgentFiles, java_classes: Path, busy_fp: Path) -> None:
    with running("java", "-cp", java_classes, "Busy", "60") as jvm, running(busy_fp, "60"):
        time.sleep(JVM_AGE)
        jvm.send_signal(signal.SIGSTOP)  # a JVM that does not answer
        try:
            started = time.monotonic()
            result = agent.run("-d", "3", "--java-jattach-timeout", "2")
            elapsed = time.monotonic() - started
        finally:
            jvm.send_signal(signal.SIGCONT)
    assert result.returncode == 0, result.stderr
    profile = parse_profile(agent.output / "last_profile.col")
    (stack,) = profile.of_app("java: Busy")
    assert stack[0].startswith("[Profiling error: attach: ") and "did not open its attach socket" in stack[0]
    assert profile.of_process("gp_busy_fp")
    assert elapsed < 3 + 5


def test_nothing_left_running_after_the_agent_stops(
    agent: AgentFiles, java_classes: Path, engine: str
) -> None:
    with running("java", "-cp", java_classes, "Busy", "60") as jvm:
        time.sleep(JVM_AGE)
        process = agent.start("-c", "-d", "3", "--java-mode", engine)
        time.sleep(4.5)  # mid-way through the second cycle: a recording is running
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        _engine_idle(jvm.pid, engine)
        assert jvm.poll() is None
    assert not _leftovers()
    assert not list(Path("/tmp").glob(f".attach_pid{jvm.pid}"))


def test_a_crash_after_profiling_turns_java_profiling_off(
    agent: AgentFiles, java_classes: Path, tmp_path: Path
) -> None:
    crash_dir = tmp_path / "crash"
    crash_dir.mkdir()
    with (
        running("java", "-cp", java_classes, "Crash", "5.5", cwd=crash_dir),
        running("java", "-cp", java_classes, "Busy", "60"),
    ):
        time.sleep(JVM_AGE)
        process = agent.start("-c", "-d", "3")
        try:
            wait_for(
                lambda: "cycle 3:" in (agent.log.read_text() if agent.log.exists() else ""), 40, "3 cycles"
            )
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert list(crash_dir.glob("hs_err_pid*.log")), "the JVM did not crash"
    assert "CRITICAL" in stderr and "Java profiling is off" in stderr
    busy = parse_profile(agent.profiles()[2]).of_app("java: Busy")
    assert busy and all(
        stack[0].startswith("[Profiling skipped: a JVM crashed after being profiled") for stack in busy
    )


def test_reader_on_a_live_recording_with_many_threads(java_classes: Path, tmp_path: Path) -> None:
    from gprofiler.profilers.java.jfr_reader import read_samples

    recording = tmp_path / "deep.jfr"
    settings = tmp_path / "sampling.jfc"
    from gprofiler.profilers.java.jfr_session import jfc_settings

    settings.write_text(jfc_settings(10))
    flight = f"-XX:StartFlightRecording=settings={settings},filename={recording},duration=3s"
    subprocess.run(
        ["java", flight, "-cp", str(java_classes), "Deep", "4", "32", "20"], check=True, capture_output=True
    )
    samples = read_samples(recording.read_bytes())
    printed = subprocess.run(
        [
            "jfr",
            "print",
            "--json",
            "--stack-depth",
            "1000",
            "--events",
            "jdk.ExecutionSample",
            str(recording),
        ],
        capture_output=True,
        check=True,
    ).stdout
    events = json.loads(printed)["recording"]["events"]
    assert samples.total("jdk.ExecutionSample") == len(events) > 20
    threads = {event["values"]["sampledThread"]["javaName"] for event in events}
    assert len(threads) > 8
    expected: Counter[tuple[str, ...]] = Counter(
        tuple(
            f"{frame['method']['type']['name'].replace('/', '.')}.{frame['method']['name']}_[j]"
            for frame in reversed(event["values"]["stackTrace"]["frames"])
        )
        for event in events
    )
    assert samples.stacks["jdk.ExecutionSample"] == expected


def test_async_profiler_shows_java_over_native_over_kernel_frames(
    agent: AgentFiles, java_classes: Path
) -> None:
    with running("java", "-cp", java_classes, "DevNull", "60"):
        time.sleep(JVM_AGE)
        result = agent.run("-d", "4", "--java-mode", "ap")
    assert result.returncode == 0, result.stderr
    stacks = parse_profile(agent.output / "last_profile.col").of_app("java: DevNull")
    mixed = [
        stack
        for stack in stacks
        if "DevNull.main_[j]" in stack
        and "java.io.FileOutputStream.writeBytes_[j]" in stack
        and "Java_java_io_FileOutputStream_writeBytes" in stack  # JNI, plain like perf's native frames
        and stack[-1].endswith("_[k]")
    ]
    assert sum(stacks[stack] for stack in mixed) > 0.2 * sum(stacks.values())


def test_async_profiler_is_loaded_once_and_found_by_the_next_agent(
    agent: AgentFiles, java_classes: Path, tmp_path: Path
) -> None:
    console = tmp_path / "jvm-output.txt"
    with (
        open(console, "wb") as output,
        subprocess.Popen(
            ["java", "-cp", str(java_classes), "Busy", "60"], stdout=output, stderr=subprocess.STDOUT
        ) as jvm,
    ):
        time.sleep(JVM_AGE)
        first = agent.start("-c", "-d", "2", "--java-mode", "ap")
        try:
            wait_for(lambda: "cycle 2:" in (agent.log.read_text() if agent.log.exists() else ""), 40, "2")
        finally:
            first.terminate()
            _, stderr = first.communicate(timeout=30)
        library = loaded_library(Path("/proc"), jvm.pid)
        copied = Path(library or "/").stat().st_mtime_ns
        second = agent.run("-d", "2", "--java-mode", "ap")  # another agent, another PID
        maps = Path(f"/proc/{jvm.pid}/maps").read_text()
        _engine_idle(jvm.pid, "ap")
        jvm.kill()
    assert console.read_text() == ""  # nothing printed into the application's own output
    assert first.returncode == 0 and second.returncode == 0, stderr + second.stderr
    assert library is not None and library.startswith(f"{DIRECTORY}/libasyncProfiler-")
    assert {line.split()[-1] for line in maps.splitlines() if "libasyncProfiler" in line} == {library}
    assert Path(library).stat().st_mtime_ns == copied  # not copied again
    assert _busy_share(parse_profile(agent.output / "last_profile.col").of_app("java: Busy")) > 0.8
    assert sorted(path.name for path in Path(DIRECTORY).iterdir()) == [Path(library).name]


def test_async_profiler_event_and_extra_arguments_reach_it(agent: AgentFiles, java_classes: Path) -> None:
    """itimer instead of perf events, and `cstack=no` (Java frames only) from --java-async-profiler-args."""
    with running("java", "-cp", java_classes, "DevNull", "60"):
        time.sleep(JVM_AGE)
        result = agent.run(
            "-d", "3", "--java-async-profiler-mode", "itimer", "--java-async-profiler-args", "cstack=no"
        )
    assert result.returncode == 0, result.stderr
    stacks = parse_profile(agent.output / "last_profile.col").of_app("java: DevNull")
    frames = {frame for stack in stacks for frame in stack[1:]}
    assert any(frame.startswith("DevNull.") for frame in frames), frames
    assert all(frame.endswith(JAVA_FRAME) for frame in frames), frames
