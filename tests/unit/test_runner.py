"""The subprocess helper, with real programs (sleep, sh, true)."""

import os
import threading
import time
from pathlib import Path

import pytest

from gprofiler.runner import (
    ChildProcess,
    StoppedError,
    ToolFailedError,
    ToolNotFoundError,
    ToolPermissionError,
    ToolTimeoutError,
    run,
    stream_stdout,
)


def test_run_returns_output() -> None:
    result = run(["sh", "-c", "echo out; echo err >&2"], timeout=10)
    assert result.stdout == b"out\n"
    assert result.stderr == "err"


def test_failure_carries_stderr_tail() -> None:
    with pytest.raises(ToolFailedError, match="exited with code 3: boom") as caught:
        run(["sh", "-c", "echo boom >&2; exit 3"], timeout=10)
    assert caught.value.returncode == 3


def test_missing_binary_and_permission_denied(tmp_path: Path) -> None:
    with pytest.raises(ToolNotFoundError, match="not found"):
        run([str(tmp_path / "no-such-tool")], timeout=5)
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(ToolPermissionError, match="permission denied"):
        run([str(script)], timeout=5)


def test_timeout_kills_the_whole_group() -> None:
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError):
        run(["sh", "-c", "sleep 30 & sleep 30; wait"], timeout=0.5)
    assert time.monotonic() - started < 5


def test_stop_event_interrupts_a_stream() -> None:
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with (
        pytest.raises(StoppedError),
        stream_stdout(["sh", "-c", "echo a; sleep 30"], timeout=60, stop_event=stop) as out,
    ):
        lines = list(out)
    assert lines == [b"a\n"]
    assert time.monotonic() - started < 5


def test_stream_reports_failure_after_reading() -> None:
    with pytest.raises(ToolFailedError), stream_stdout(["sh", "-c", "echo x; exit 1"], timeout=10) as out:
        assert out.read() == b"x\n"


def test_stop_escalates_to_sigkill() -> None:
    child = ChildProcess(["sh", "-c", "trap '' TERM; sleep 30"])
    time.sleep(0.2)
    started = time.monotonic()
    child.stop(grace_seconds=0.5)
    assert not child.is_running()
    assert time.monotonic() - started < 3


def test_children_get_parent_death_signal() -> None:
    # a middle process that starts a grandchild through our helper, then dies by SIGKILL
    code = (
        "import time, sys; from gprofiler.runner import ChildProcess; "
        "c = ChildProcess(['sleep', '60']); print(c.pid, flush=True); time.sleep(60)"
    )
    import subprocess
    import sys

    middle = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert middle.stdout is not None
    grandchild = int(middle.stdout.readline())
    assert Path(f"/proc/{grandchild}").exists()
    middle.kill()
    middle.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
            state = Path(f"/proc/{grandchild}/stat").read_text().split()[2]
            if state == "Z":
                break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.05)
    else:
        pytest.fail("grandchild survived its parent's death")
