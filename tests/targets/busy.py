"""A CPU-bound Python target with a known call chain: gp_outer -> gp_middle -> gp_leaf.

Runs for argv[1] seconds (default 30). A second thread sleeps, so idle handling is visible.
"""

import sys
import threading
import time


def gp_leaf() -> int:
    total = 0
    for i in range(200_000):
        total += i * i
    return total


def gp_middle() -> int:
    return gp_leaf()


def gp_outer(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        gp_middle()


def sleeper() -> None:
    while True:
        time.sleep(1)


if __name__ == "__main__":
    threading.Thread(target=sleeper, daemon=True).start()
    gp_outer(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0)
