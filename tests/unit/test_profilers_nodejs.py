import io
from pathlib import Path

import pytest

from gprofiler.profilers.nodejs.inspector import parse_listening_inodes
from gprofiler.profilers.nodejs.profiler import js_frame, mark_js_frames, node_major
from gprofiler.stacks.perf_script import collapse_perf_script

NODE = Path(__file__).resolve().parent.parent / "fixtures" / "node"


def test_javascript_frames_are_marked() -> None:
    stacks = collapse_perf_script(io.BytesIO((NODE / "perf_node.txt").read_bytes())).stacks
    (counts,) = stacks.values()
    marked = mark_js_frames(counts)
    assert sum(marked.values()) == sum(counts.values())
    frames = {frame for stack in marked for frame in stack[1:]}
    assert "gpLeaf /tmp/gp-fixture/busy.js:1_[js]" in frames
    assert not any(frame.startswith("JS:") for frame in frames)
    assert "Builtins_InterpreterEntryTrampoline" in frames  # V8 internals stay native
    assert all(stack[0] == "node" for stack in marked)
    assert mark_js_frames(marked) == marked  # idempotent


def test_inspector_port_from_proc_net_tcp() -> None:
    listening = parse_listening_inodes((NODE / "net_tcp_inspector").read_text())
    assert listening[39291] == 9229


def test_node_major() -> None:
    assert node_major("v20.20.2") == "20"
    assert node_major(None) is None


@pytest.mark.parametrize(
    ("frame", "normalized"),
    [
        # the same function as node 20 names it in each mode and tier (seen on this machine)
        (
            "JS:*gpOuter /tmp/nd/busy.js:17:17",
            "gpOuter /tmp/nd/busy.js:17_[js]",
        ),  # --perf-basic-prof, TurboFan
        ("JS:~gpOuter /tmp/nd/busy.js:17:17", "gpOuter /tmp/nd/busy.js:17_[js]"),  # interpreted
        ("JS:^gpOuter /tmp/nd/busy.js:17:17", "gpOuter /tmp/nd/busy.js:17_[js]"),  # Sparkplug
        ("JS:+gpOuter /tmp/nd/busy.js:17:17", "gpOuter /tmp/nd/busy.js:17_[js]"),  # Maglev
        ("Function:gpOuter /tmp/nd/busy.js:17", "gpOuter /tmp/nd/busy.js:17_[js]"),  # attach-maps
        ("LazyCompile:*gpOuter /tmp/nd/busy.js:17", "gpOuter /tmp/nd/busy.js:17_[js]"),  # older nodes
        ("JS:~emit node:events:517:28", "emit node:events:517_[js]"),
        ("LazyCompile:~emit node:events:517", "emit node:events:517_[js]"),
        ("JS:~ /srv/app.js:1:1", "(anonymous) /srv/app.js:1_[js]"),
        ("Script:~ /srv/app.js", "(anonymous) /srv/app.js_[js]"),
        ("InterpretedFunction:f", "f_[js]"),
        ("Function::Call", None),  # v8::Function::Call, C++
        ("Builtin:ArrayMap", None),
        ("Builtins_InterpreterEntryTrampoline", None),
    ],
)
def test_one_form_for_every_mode_and_tier(frame: str, normalized: str | None) -> None:
    assert js_frame(frame) == normalized
