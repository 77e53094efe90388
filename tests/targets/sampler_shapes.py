"""A CPU-bound Python target whose stacks test how a sampler names frames: a method of a class
(qualified names), a generator expression, a function with a non-ASCII name and one whose name holds
`;` and a line separator (through exec, as generated code can), and a second thread that only sleeps.

Runs for argv[1] seconds (default 30).
"""

import sys
import threading
import time


class GpWorker:
    def gp_method(self) -> int:
        return sum(i * i for i in range(20_000))


def gp_ünïcode_名前() -> int:
    return GpWorker().gp_method()


namespace: dict[str, object] = {"gp_ünïcode_名前": gp_ünïcode_名前}
exec(compile("def gp_odd():\n    return gp_ünïcode_名前()\n", "gp;odd\u2028file.py", "exec"), namespace)
gp_odd = namespace["gp_odd"]


def gp_sleeper() -> None:
    while True:
        time.sleep(1)


if __name__ == "__main__":
    threading.Thread(target=gp_sleeper, daemon=True).start()
    end = time.monotonic() + (float(sys.argv[1]) if len(sys.argv) > 1 else 30.0)
    while time.monotonic() < end:
        gp_odd()  # type: ignore[operator]
