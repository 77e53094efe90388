"""A private clickhouse-server (Debian's, 18.16) on free loopback ports, for the tests and benchmarks."""

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLICKHOUSE = "/usr/sbin/clickhouse-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_clickhouse(data: Path, timeout: float = 60.0, tcp: int | None = None) -> Iterator[str]:
    """`clickhouse://127.0.0.1:PORT` of a server keeping everything under `data`; stopped afterwards.
    `tcp`: the native protocol's port (a free one by default; give the same one to restart it)."""
    tcp = tcp or free_port()
    server = subprocess.Popen(
        [CLICKHOUSE, "--config-file=/etc/clickhouse-server/config.xml", "--", f"--path={data}/",
         f"--tcp_port={tcp}", f"--http_port={free_port()}", f"--interserver_http_port={free_port()}",
         f"--tmp_path={data}/tmp/", f"--user_files_path={data}/user_files/",
         f"--logger.log={data}/server.log", f"--logger.errorlog={data}/error.log", "--listen_host=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", tcp), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"clickhouse-server did not start; see {data}/error.log") from None
                time.sleep(0.2)
        yield f"clickhouse://127.0.0.1:{tcp}"
    finally:
        server.terminate()
        server.wait(timeout=60)
