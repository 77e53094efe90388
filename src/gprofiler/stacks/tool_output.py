"""Collapsed text as tools write it (`frame;...;frame count`, root first): py-spy's raw output,
async-profiler's collapsed output, and the stack lines of a `.col` file.

Pure functions; the bytes come from tools run against targets we do not trust.
"""

from collections import Counter
from collections.abc import Callable

from gprofiler.stacks.escaping import escape_frame
from gprofiler.stacks.model import StackCounts

MAX_COUNT = 10**9  # nor larger counts: no stack gets that many samples in a cycle, so no tool says so


def split_count(line: str) -> tuple[str, int] | None:
    """`a;b;c 12` -> ("a;b;c", 12); None for a line without a count of 1 to MAX_COUNT."""
    stack, _, count_text = line.rpartition(" ")
    # ASCII digits only: str.isdigit() also accepts "²" and Arabic-Indic digits, which int() refuses
    # or reads as numbers no tool wrote.
    if not stack or not count_text.isascii() or not count_text.isdigit() or len(count_text) > 10:
        return None
    count = int(count_text)
    return (stack, count) if 0 < count <= MAX_COUNT else None


def parse_tool_output(text: str, comm: str, frame_name: Callable[[str], str]) -> StackCounts:
    """A runtime profiler's collapsed output (`frame;...;frame count`, root first) as stacks under
    the process name, each frame escaped and then named by `frame_name` (e.g. given a suffix)."""
    stacks: StackCounts = Counter()
    # "\n" only: str.splitlines() also splits on U+2028, U+0085, \x1c... which a frame (a file or
    # function name the target chose) may hold; the frame is escaped below instead.
    for line in text.split("\n"):
        parsed = split_count(line)
        if parsed is None:
            continue
        stack = (comm, *(frame_name(escape_frame(frame)) for frame in parsed[0].split(";")))
        stacks[stack] += parsed[1]
    return stacks
