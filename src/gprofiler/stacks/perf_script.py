"""Turn `perf script` text into per-process collapsed stacks, streaming.

`perf script` prints one block per sample: a header line (`comm pid/tid ...`), then one line per
frame (leaf first, each starting with whitespace), then an empty line. The parser reads the text in
blocks and never holds more than one block; per sample it only hashes the raw callchain text, because
a busy system repeats the same few thousand stacks millions of times. Frames are parsed once per
distinct callchain when the stream ends.

It accepts perf's default field set (`comm tid [cpu] time: period event:`) as well as the agent's own
(`-F comm,pid,tid,ip,sym,dso`), and survives what real systems produce: thread names containing
spaces, `;`, newlines or invalid UTF-8, `(deleted)` DSOs, and output cut off in the middle of a line.
"""

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import IO

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

# Bound on the header memo table, so a pathological input cannot grow memory without limit.
_CACHE_LIMIT = 262_144
# Bound on the frame lines one cycle keeps (~200 bytes each with their names).
_FRAME_LIMIT = 131_072
# Distinct raw sample texts held before they are parsed (a few MB at most).
_RAW_LIMIT = 20_000


class FrameCache:
    """Raw frame line -> frame name, kept across cycles: long-running processes print the same
    lines cycle after cycle. Only the lines of this cycle and the previous one are kept, so lines of
    exited processes and of JIT code that moved fall out after a cycle without them: memory follows
    what runs, not the agent's uptime. Call `next_cycle` once per cycle."""

    def __init__(self, limit: int = _FRAME_LIMIT) -> None:
        self.limit = limit
        self.current: dict[bytes, str] = {}
        self.previous: dict[bytes, str] = {}

    def miss(self, line: bytes) -> str:
        """The name of a line not in `current` (the hot path reads `current` itself)."""
        name = self.previous.get(line)
        if name is None:
            name = parse_frame_line(line)
        if len(self.current) >= self.limit:
            self.current.clear()
        self.current[line] = name
        return name

    def next_cycle(self) -> None:
        self.previous, self.current = self.current, {}

    def __len__(self) -> int:
        return len(self.current.keys() | self.previous.keys())


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
    match = (_HEADER_PID_TID.match(header) if b"/" in header else None) or _HEADER_TID.match(header)
    if match is None:
        return None
    comm = match.group(1).strip(b" ")
    return int(match.group(2)), decode_name(comm)


def _callchain_start(sample: bytes) -> int:
    """Offset of the first frame line (the first line that starts with whitespace), or -1."""
    tab, space = sample.find(b"\n\t"), sample.find(b"\n ")
    if tab < 0 or (0 <= space < tab):
        tab = space
    return tab


class _Collapser:
    """Counts samples by their raw text; frames are parsed once per distinct callchain.

    Identical stacks print identical text (same addresses, same symbols), so the per-sample work is
    counting byte strings (done in C by Counter.update). With perf's default fields every header has
    a timestamp and no two samples are alike: then pre-aggregation is switched off and each sample's
    header is split from its callchain instead, so memory stays bounded either way.
    """

    def __init__(self, frame_cache: FrameCache) -> None:
        self.frame_cache = frame_cache
        self.result = CollapseResult()
        self.raw: Counter[bytes] = Counter()
        self.raw_seen = 0
        self.pre_aggregate = True
        self.chains: Counter[tuple[int, str, bytes]] = Counter()
        self.headers: dict[bytes, tuple[int, str] | None] = {}

    def add(self, samples: list[bytes]) -> None:
        if not self.pre_aggregate:
            for text in samples:
                self.sample(text, 1)
            return
        self.raw.update(samples)
        self.raw_seen += len(samples)
        if len(self.raw) > _RAW_LIMIT:
            self.pre_aggregate = len(self.raw) < self.raw_seen // 2
            self.flush()

    def flush(self) -> None:
        for text, count in self.raw.items():
            self.sample(text, count)
        self.raw.clear()

    def sample(self, text: bytes, count: int) -> None:
        text = text.lstrip(b"\r\n")
        while text.startswith(b"#"):  # perf script's file header comments
            text = text.partition(b"\n")[2].lstrip(b"\r\n")
        if not text.strip():
            return
        split = _callchain_start(text)
        header, chain = (text, b"") if split < 0 else (text[:split], text[split + 1 :])
        parsed = self.headers.get(header, False)
        if parsed is False:
            parsed = parse_header_line(header)
            if len(self.headers) >= _CACHE_LIMIT:
                self.headers.clear()
            self.headers[header] = parsed
        if parsed is None:
            self.result.dropped_samples += count
        else:
            self.chains[(parsed[0], parsed[1], chain)] += count  # type: ignore[index]

    def finish(self) -> CollapseResult:
        self.flush()
        cache = self.frame_cache
        frames, miss = cache.current, cache.miss
        stacks = self.result.stacks
        for (pid, comm, chain), count in self.chains.items():
            names = []
            for line in chain.split(b"\n"):
                if not line.strip():
                    continue
                name = frames.get(line)
                if name is None:
                    name = miss(line)
                names.append(name)
            names.reverse()
            counts = stacks.get(pid)
            if counts is None:
                counts = stacks[pid] = Counter()
            stack: Stack = (comm, *names)
            counts[stack] += count
            self.result.samples += count
        self.chains.clear()
        return self.result


def read_chunks(stream: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """A binary stream as a sequence of blocks, for `collapse_perf_script`."""
    return iter(partial(stream.read, size), b"")


def collapse_perf_script(chunks: Iterable[bytes], frame_cache: FrameCache | None = None) -> CollapseResult:
    """Aggregate `perf script` output into stacks by PID, reading it once, block by block.

    `frame_cache` may be shared between calls: the agent keeps one across cycles.

    `chunks` may cut the text anywhere (lines, 1 MB blocks). A sample whose header cannot be parsed
    is counted in `dropped_samples`; so is a final sample cut off mid-line (perf killed, disk full),
    because its last frame may be garbage.
    """
    collapser = _Collapser(FrameCache() if frame_cache is None else frame_cache)
    pending = b""
    for chunk in chunks:
        samples = (pending + chunk).split(b"\n\n")
        pending = samples.pop()
        collapser.add(samples)
    if pending.strip():
        if pending.endswith(b"\n"):
            collapser.add([pending])
        else:
            collapser.result.dropped_samples += 1
    return collapser.finish()
