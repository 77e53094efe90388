"""A CPU-bound Python target that spends its time 700 calls deep (an ordinary recursive algorithm).

Runs for argv[1] seconds (default 30); argv[2] is the depth (default 700).
"""

import sys
import time


def gp_spin() -> int:
    total = 0
    for i in range(100_000):
        total += i * i
    return total


def gp_recurse(depth: int) -> int:
    if depth == 0:
        return gp_spin()
    return gp_recurse(depth - 1)


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 700
    sys.setrecursionlimit(depth + 100)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        gp_recurse(depth)
