"""A CPU-bound Python target that spends its time 700 calls deep (an ordinary recursive algorithm).

Runs for argv[1] seconds (default 30); argv[2] is the depth (default 700). The recursion goes down
once and spins at the bottom, so a sampler reading the stack while it runs (py-spy --nonblocking)
finds the same 700 frames every time.
"""

import sys
import time


def gp_spin() -> int:
    total = 0
    for i in range(100_000):
        total += i * i
    return total


def gp_recurse(depth: int, end: float) -> None:
    if depth:
        gp_recurse(depth - 1, end)
        return
    while time.monotonic() < end:
        gp_spin()


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 700
    sys.setrecursionlimit(depth + 100)
    gp_recurse(depth, time.monotonic() + seconds)
