"""What studio accepts, applied before a profile is queued for upload (pure functions).

Studio refuses a body over its size limit (413), and a refused profile is set aside, never sent
again. So an oversized profile is trimmed here instead: its stack lines with the fewest samples go
first, and one line under the process name `[dropped stacks]` carries their samples, so totals and
the share of everything else stay right. Stack lines themselves are already within studio's line
rules (`output.collapsed.written_stack`).
"""

from collections.abc import Callable
from typing import Any

from gprofiler.stacks.tool_output import split_count

MAX_BODY_BYTES = 4 * 1024 * 1024  # studio's default --max-body-mb, compressed
MAX_TEXT_CHARS = 60 * 1024 * 1024  # studio inflates at most 64 MB: room for the JSON around it
MAX_STACK_LINES = 499_000  # studio refuses 500,000 stack lines
DROPPED_PROCESS = "[dropped stacks]"
_ATTEMPTS = 6


def _is_over(text: str, encoded_size: int) -> bool:
    return encoded_size > MAX_BODY_BYTES or len(text) > MAX_TEXT_CHARS or text.count("\n") > MAX_STACK_LINES


def trim_collapsed(text: str, keep_chars: int) -> tuple[str, int, int]:
    """`text` without its least-sampled stack lines, down to about `keep_chars` characters and under
    MAX_STACK_LINES lines, plus one line counting what went: (text, lines dropped, samples dropped)."""
    header, _, body = text.partition("\n")
    lines = [line for line in body.split("\n") if line]
    counts = [(parsed[1] if (parsed := split_count(line)) else 0) for line in lines]
    # fewest samples first; among equals, the longest line (it frees the most room)
    order = sorted(range(len(lines)), key=lambda i: (counts[i], -len(lines[i])))
    size, kept_lines = len(text), len(lines)
    dropped: set[int] = set()
    for index in order:
        if size <= keep_chars and kept_lines < MAX_STACK_LINES:
            break
        dropped.add(index)
        size -= len(lines[index]) + 1
        kept_lines -= 1
    samples = sum(counts[index] for index in dropped)
    kept = [line for index, line in enumerate(lines) if index not in dropped]
    if dropped:
        reason = (
            f"[{len(dropped)} stacks with the fewest samples dropped: the profile was over the upload limit]"
        )
        kept.append(f"0;;{DROPPED_PROCESS};{reason} {max(samples, 1)}")
    return "\n".join([header, *kept]) + "\n", len(dropped), samples


def fit_for_upload(
    document: dict[str, Any], encode: Callable[[dict[str, Any]], bytes]
) -> tuple[dict[str, Any], bytes, tuple[int, int] | None]:
    """The upload document and its encoded bytes within studio's limits; with (stacks, samples)
    dropped when it had to be trimmed, else None."""
    data = encode(document)
    text = document["profile"]
    if not isinstance(text, str) or not _is_over(text, len(data)):
        return document, data, None
    fraction = 1.0
    for _ in range(_ATTEMPTS):
        fraction *= 0.9 * min(MAX_BODY_BYTES / len(data), MAX_TEXT_CHARS / len(document["profile"]), 1.0)
        trimmed, lines, samples = trim_collapsed(text, int(len(text) * fraction))
        document = {**document, "profile": trimmed}
        data = encode(document)
        if not _is_over(trimmed, len(data)):
            return document, data, (lines, samples)
    raise ValueError(f"the profile does not fit the upload limits even trimmed to {len(data)} bytes")
