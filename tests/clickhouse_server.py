"""A private clickhouse-server (Debian's, 18.16) on free loopback ports, for the tests and benchmarks."""

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLICKHOUSE = "/usr/sbin/clickhouse-server"
CONFIG = Path("/etc/clickhouse-server/config.xml")
ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"  # Debian's; its manifest names its dependencies


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_clickhouse(
    data: Path, timeout: float = 60.0, tcp: int | None = None, config: Path = CONFIG
) -> Iterator[str]:
    """`clickhouse://127.0.0.1:PORT` of a server keeping everything under `data`; stopped afterwards.
    `tcp`: the native protocol's port (a free one by default; give the same one to restart it);
    `config`: its config.xml (Debian's; a cluster's copy has its `remote_servers` next to it)."""
    tcp = tcp or free_port()
    server = subprocess.Popen(
        [CLICKHOUSE, f"--config-file={config}", "--", f"--path={data}/",
         f"--tcp_port={tcp}", f"--http_port={free_port()}", f"--interserver_http_port={free_port()}",
         f"--tmp_path={data}/tmp/", f"--user_files_path={data}/user_files/",
         f"--logger.log={data}/server.log", f"--logger.errorlog={data}/error.log", "--listen_host=127.0.0.1",
         "--interserver_http_host=127.0.0.1"],
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


def cluster_config(
    directory: Path, cluster: str, ports: list[int], zookeeper: int | None = None, replica: int = 0
) -> Path:
    """A copy of Debian's server configuration whose `remote_servers` has `cluster`: one shard (of
    one replica) per port on loopback; with `zookeeper` (its port), one shard whose replicas are the
    ports, and this server's macros (shard 01, replica r<replica>). ClickHouse reads config.d/ next
    to the config file it is given."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("config.xml", "users.xml"):
        shutil.copy(CONFIG.parent / name, directory / name)
    servers = [f"<replica><host>127.0.0.1</host><port>{port}</port></replica>" for port in ports]
    if zookeeper is None:
        shards = "".join(f"<shard>{server}</shard>" for server in servers)
        extra = ""
    else:
        shards = f"<shard><internal_replication>true</internal_replication>{''.join(servers)}</shard>"
        extra = (
            f"<zookeeper><node><host>127.0.0.1</host><port>{zookeeper}</port></node></zookeeper>"
            f"<macros><shard>01</shard><replica>r{replica}</replica></macros>"
        )
    (directory / "config.d").mkdir(exist_ok=True)
    (directory / "config.d" / "cluster.xml").write_text(
        f"<yandex><remote_servers><{cluster}>{shards}</{cluster}></remote_servers>{extra}</yandex>\n"
    )
    return directory / "config.xml"


@contextmanager
def running_cluster(data: Path, cluster: str, shards: int = 2) -> Iterator[tuple[list[int], str]]:
    """`shards` servers that know each other as `cluster`: their ports, and the store's URL prefix
    (`clickhouse://127.0.0.1:P1,127.0.0.1:P2`)."""
    ports = [free_port() for _ in range(shards)]
    config = cluster_config(data / "config", cluster, ports)
    with contextlib.ExitStack() as servers:
        for index, port in enumerate(ports):
            servers.enter_context(running_clickhouse(data / f"shard{index}", tcp=port, config=config))
        yield ports, "clickhouse://" + ",".join(f"127.0.0.1:{port}" for port in ports)


@contextmanager
def running_zookeeper(data: Path, timeout: float = 60.0) -> Iterator[int]:
    """A standalone ZooKeeper (Debian's `zookeeper` package) keeping its data under `data`: its port."""
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (data / "zoo.cfg").write_text(
        f"tickTime=500\ndataDir={data}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
        "admin.enableServer=false\n4lw.commands.whitelist=ruok\n"
    )
    server = subprocess.Popen(
        ["java", "-Xmx256m", "-cp", ZOOKEEPER_JAR, "org.apache.zookeeper.server.ZooKeeperServerMain",
         str(data / "zoo.cfg")],
        stdout=(data / "zookeeper.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while _four_letters(port, b"ruok") != b"imok":
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ZooKeeper did not start; see {data}/zookeeper.log")
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=60)


def _four_letters(port: int, command: bytes) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(command)
            return connection.recv(16)
    except OSError:
        return b""


@contextmanager
def running_replicas(data: Path, cluster: str, replicas: int = 2) -> Iterator[tuple[list[int], str]]:
    """A ZooKeeper and `replicas` servers holding one shard of `cluster` together (replicated tables):
    their ports and the store's URL prefix, as running_cluster's."""
    ports = [free_port() for _ in range(replicas)]
    with contextlib.ExitStack() as servers:
        zookeeper = servers.enter_context(running_zookeeper(data / "zookeeper"))
        for index, port in enumerate(ports):
            config = cluster_config(data / f"config{index}", cluster, ports, zookeeper, index)
            servers.enter_context(running_clickhouse(data / f"replica{index}", tcp=port, config=config))
        yield ports, "clickhouse://" + ",".join(f"127.0.0.1:{port}" for port in ports)
