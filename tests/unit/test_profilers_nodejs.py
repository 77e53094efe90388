import io
from pathlib import Path

from gprofiler.profilers.nodejs.inspector import parse_listening_inodes
from gprofiler.profilers.nodejs.profiler import mark_js_frames, node_major
from gprofiler.stacks.perf_script import collapse_perf_script

NODE = Path(__file__).resolve().parent.parent / "fixtures" / "node"


def test_javascript_frames_are_marked() -> None:
    stacks = collapse_perf_script(io.BytesIO((NODE / "perf_node.txt").read_bytes())).stacks
    (counts,) = stacks.values()
    marked = mark_js_frames(counts)
    assert sum(marked.values()) == sum(counts.values())
    frames = {frame for stack in marked for frame in stack[1:]}
    assert "JS:*gpLeaf /tmp/gp-fixture/busy.js:1:16_[js]" in frames
    assert "Builtins_InterpreterEntryTrampoline" in frames  # V8 internals stay native
    assert all(stack[0] == "node" for stack in marked)
    assert mark_js_frames(marked) == marked  # idempotent


def test_inspector_port_from_proc_net_tcp() -> None:
    listening = parse_listening_inodes((NODE / "net_tcp_inspector").read_text())
    assert listening[39291] == 9229


def test_node_major() -> None:
    assert node_major("v20.20.2") == "20"
    assert node_major(None) is None
