"""Turn `perf script` text into per-process collapsed stacks, streaming.

`perf script` prints one block per sample: a header line (`comm pid/tid ...`), then one line per
frame (leaf first, each starting with whitespace), then an empty line. The parser reads that line by
line and never holds more than one sample's lines; frames are memoised by their raw line, because a
busy system repeats the same few thousand addresses millions of times.

It accepts perf's default field set (`comm tid [cpu] time: period event:`) as well as the agent's own
(`-F comm,pid,tid,ip,sym,dso`), and survives what real systems produce: thread names containing
spaces, `;`, newlines or invalid UTF-8, `(deleted)` DSOs, and output cut off in the middle of a line.
"""

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from gprofiler.stacks.escaping import decode_name
from gprofiler.stacks.model import PidStacks, Stack

# x86_64 and arm64 kernels live in the upper half of the address space.
KERNEL_ADDRESS_MIN = 0xFFFF_8000_0000_0000
KERNEL_SUFFIX = "_[k]"

# `comm pid/tid ...`: the comm may contain anything, so take the last `pid/tid` on the line.
_HEADER_PID_TID = re.compile(rb"^\s*(.+)\s+(-?\d+)/(-?\d+)(?=\s|$)", re.DOTALL)
# `comm tid ...` (perf's default fields have no pid): the first number after the comm.
_HEADER_TID = re.compile(rb"^\s*(.+?)\s+(-?\d+)(?=\s|$)", re.DOTALL)
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")

# A newline in a thread name splits perf's header line; join at most this many pieces.
_MAX_HEADER_PIECES = 4
# Bound on each memo table, so a pathological input cannot grow memory without limit.
_CACHE_LIMIT = 262_144


@dataclass
class CollapseResult:
    """Stacks by PID plus the bookkeeping the agent logs once per cycle."""

    stacks: PidStacks = field(default_factory=dict)
    samples: int = 0
    dropped_samples: int = 0  # samples whose header could not be parsed, or cut off at the end


def _split_symbol_and_dso(rest: bytes) -> tuple[bytes, bytes]:
    """Split `symbol+0x1f (dso)`; the DSO is the last balanced parenthesised group."""
    if not rest.endswith(b")"):
        return rest, b""
    depth = 0
    for index in range(len(rest) - 1, -1, -1):
        char = rest[index]
        if char == 0x29:  # ')'
            depth += 1
        elif char == 0x28:  # '('
            depth -= 1
            if depth == 0:
                if index > 0 and rest[index - 1] == 0x20:
                    return rest[: index - 1], rest[index + 1 : -1]
                return rest, b""
    return rest, b""


def _strip_offset(symbol: bytes) -> bytes:
    plus = symbol.rfind(b"+0x")
    if plus > 0 and len(symbol) > plus + 3 and all(c in _HEX_DIGITS for c in symbol[plus + 3 :]):
        return symbol[:plus]
    return symbol


def _is_kernel_dso(dso: bytes) -> bool:
    return dso.startswith(b"[kernel") or b"vmlinux" in dso


def parse_frame_line(line: bytes) -> str:
    """One callchain line (`\\t  ffffffff81 do_idle+0x5 ([kernel.kallsyms])`) to one frame name."""
    text = line.strip()
    address_text, _, rest = text.partition(b" ")
    try:
        address: int | None = int(address_text, 16)
    except ValueError:
        address, rest = None, text
    symbol, dso = _split_symbol_and_dso(rest.strip())
    symbol = _strip_offset(symbol)
    is_kernel = address >= KERNEL_ADDRESS_MIN if address is not None else _is_kernel_dso(dso)
    if symbol in (b"", b"[unknown]"):
        if dso in (b"", b"[unknown]"):
            name = "[unknown]"
        elif dso.startswith(b"[") and dso.endswith(b"]"):
            name = decode_name(dso)
        else:
            name = "[" + decode_name(dso) + "]"
    else:
        name = decode_name(symbol)
    return name + KERNEL_SUFFIX if is_kernel else name


def parse_header_line(header: bytes) -> tuple[int, str] | None:
    """`comm pid/tid ...` or `comm tid ...` to (pid, escaped comm); None if it is not a header."""
    match = _HEADER_PID_TID.match(header) or _HEADER_TID.match(header)
    if match is None:
        return None
    comm = match.group(1).strip(b" ")
    return int(match.group(2)), decode_name(comm)


class _Collapser:
    """The state machine behind `collapse_perf_script`; kept small so the hot loop stays local."""

    def __init__(self) -> None:
        self.result = CollapseResult()
        self.frame_cache: dict[bytes, str] = {}
        self.header_cache: dict[bytes, tuple[int, str] | None] = {}

    def header(self, line: bytes) -> tuple[int, str] | None:
        cached = self.header_cache.get(line, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        parsed = parse_header_line(line.rstrip(b"\r\n"))
        if len(self.header_cache) >= _CACHE_LIMIT:
            self.header_cache.clear()
        self.header_cache[line] = parsed
        return parsed

    def frame(self, line: bytes) -> str:
        parsed = parse_frame_line(line)
        if len(self.frame_cache) >= _CACHE_LIMIT:
            self.frame_cache.clear()
        self.frame_cache[line] = parsed
        return parsed

    def record(self, pid: int, comm: str, frames: list[str]) -> None:
        frames.reverse()
        stack: Stack = (comm, *frames)
        counts = self.result.stacks.get(pid)
        if counts is None:
            counts = self.result.stacks[pid] = Counter()
        counts[stack] += 1
        self.result.samples += 1


def collapse_perf_script(lines: Iterable[bytes]) -> CollapseResult:
    """Aggregate `perf script` output (an iterable of raw lines, newline included) into stacks.

    A sample whose header cannot be parsed is counted in `dropped_samples`; so is a final sample cut
    off mid-line (perf killed, disk full), because its last frame may be garbage.
    """
    state = _Collapser()
    frame_cache = state.frame_cache
    current: tuple[int, str] | None = None
    frames: list[str] = []
    in_sample = False
    pending: list[bytes] = []
    last_line = b"\n"
    for line in lines:
        last_line = line
        if line == b"\n" or not line.strip():
            if current is not None:
                state.record(current[0], current[1], frames)
            elif in_sample:
                state.result.dropped_samples += 1
            current, frames, in_sample, pending = None, [], False, []
        elif in_sample:
            if current is None:
                continue  # frames of a sample whose header was unreadable
            try:
                frames.append(frame_cache[line])
            except KeyError:
                frames.append(state.frame(line))
        elif line.startswith(b"#"):
            continue  # perf script's file header comments
        else:
            if pending:
                pending.append(line)
                current = state.header(b"".join(pending))
            else:
                current = state.header(line)
            if current is not None or len(pending) >= _MAX_HEADER_PIECES:
                in_sample, pending = True, []
            elif not pending:
                pending = [line]
    if not last_line.endswith(b"\n"):
        if in_sample or pending:
            state.result.dropped_samples += 1
    elif current is not None:
        state.record(current[0], current[1], frames)
    elif in_sample:
        state.result.dropped_samples += 1
    return state.result
