#!/usr/bin/env python3
"""Studio's stores: ingest rate of realistic profiles and flame-graph query latency.

Profiles are built like the agent's (a `.col` text with its JSON header, ~2,000 distinct stacks of
10-40 frames whose names come from real perf and py-spy output in tests/fixtures), gzipped as the
agent sends them, then decoded, validated and stored exactly as the HTTP route does
(inflate + parse_upload + add_profile), single-threaded. Hosts share 80 % of their stacks.

- ingest: one hour of `--hosts` hosts at 60 s cycles into each store, profiles/s (target >= 50/s
  for the embedded store, a 3,000-host fleet);
- query: the merged flame graph of the service over that hour (all hosts, and one host), p50/p95 of
  `--queries` runs (target p95 <= 500 ms for the hour);
- week: `--week-hosts` hosts over 7 days at one profile per `--week-interval` minutes, then the
  week's flame graph, before and after the hourly rollup.
Ingest time counts decoding and storing only, not building and gzipping the test profiles.
The ClickHouse store runs against a clickhouse-server this script starts (Debian's, 18.16).
"""

import argparse
import concurrent.futures
import contextlib
import dataclasses
import gzip
import itertools
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from tests.clickhouse_server import free_port, running_clickhouse, running_cluster, running_replicas  # noqa: E402

from gprofiler_studio.cli import tune_malloc  # noqa: E402
from gprofiler_studio.ingest import inflate, parse_upload  # noqa: E402
from gprofiler_studio.model import Filters  # noqa: E402
from gprofiler_studio.storage.base import Store  # noqa: E402
from gprofiler_studio.storage.clickhouse import ClickHouseStore  # noqa: E402
from gprofiler_studio.storage.sqlite import SqliteStore  # noqa: E402

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)


def vocabulary() -> list[str]:
    """Frame names from real tool output checked into tests/fixtures."""
    names: set[str] = set()
    for path in (ROOT / "tests" / "fixtures" / "perf_script").glob("*.collapsed"):
        for line in path.read_text().splitlines():
            names.update(line.rpartition(" ")[0].split(";")[1:])
    for path in (ROOT / "tests" / "fixtures" / "merge").glob("*.txt"):
        for line in path.read_text().splitlines():
            names.update(frame for frame in line.rpartition(" ")[0].split(";") if frame)
    return sorted(name for name in names if name and name.isprintable() and " " not in name[:1])


def stack_pool(frames: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    comms = ["java", "python3", "node", "nginx", "postgres", "gp_busy", "kworker/0:1"]
    pool = []
    for _ in range(count):
        depth = rng.randint(10, 40)
        pool.append(";".join([rng.choice(comms), *rng.choices(frames, k=depth)]))
    return pool


def profile_body(host: str, start: datetime, shared: list[str], own: list[str], rng: random.Random) -> bytes:
    header = {"start_time": start.isoformat(), "end_time": (start + timedelta(seconds=60)).isoformat(),
              "containers": [], "metadata": {"hostname": host}, "metrics": {"cpu_avg": 12.0, "mem_avg": 40.0},
              "application_metadata": [None], "application_metadata_enabled": True}  # fmt: skip
    lines = [f"# {json.dumps(header)}"]
    lines += [f"0;;{stack} {rng.randint(1, 50)}" for stack in shared + own]
    document = {"start_time": header["start_time"], "end_time": header["end_time"], "hostname": host,
                "profile": "\n".join(lines) + "\n", "cpu_avg": 12.0, "mem_avg": 40.0,
                "spawn_time": T0.isoformat(), "gpid": ""}  # fmt: skip
    return gzip.compress(json.dumps(document).encode(), compresslevel=6)


def ingest(store: Store, bodies: Iterator[bytes]) -> tuple[int, float]:
    """Profiles stored and the seconds spent decoding and storing them (building them not counted)."""
    count, seconds = 0, 0.0
    for body in bodies:
        started = time.perf_counter()
        store.add_profile("bench", parse_upload(inflate(body, "gzip")))
        seconds += time.perf_counter() - started
        count += 1
    return count, seconds


def dataset(hosts: int, start: datetime, steps: int, step: timedelta, stacks: int) -> Iterator[bytes]:
    frames = vocabulary()
    shared = stack_pool(frames, int(stacks * 0.8), seed=1)
    own = {host: stack_pool(frames, stacks - len(shared), seed=100 + host) for host in range(hosts)}
    rng = random.Random(7)
    for index in range(steps):
        for host in range(hosts):
            yield profile_body(f"host-{host:03d}", start + index * step, shared, own[host], rng)


def latencies(query: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        query()
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1000, times[max(0, int(len(times) * 0.95) - 1)] * 1000


def run_store(name: str, store: Store, args: argparse.Namespace) -> None:
    count, seconds = ingest(store, dataset(args.hosts, T0, 60, timedelta(minutes=1), args.stacks))
    print(
        f"{name}: ingested {count} profiles ({args.hosts} hosts x 60 min, ~{args.stacks} stacks each) "
        f"in {seconds:.1f} s: {count / seconds:.1f} profiles/s (target >= 50/s embedded)"
    )
    hour = Filters("bench", T0, T0 + timedelta(hours=1))
    one = Filters("bench", T0, T0 + timedelta(hours=1), hosts=("host-007",))
    # The hour as the UI asks for it right at its end: studio's loop has rolled up its first 50
    # minutes in 10-minute buckets (ClickHouse: its views sum every insert), the last 10 are profiles.
    measured = [("from the profiles, nothing rolled up", None), ("at its end", T0 + timedelta(hours=1)),
                ("once rolled up", T0 + timedelta(hours=2))]  # fmt: skip
    for label, now in measured:
        if now is not None:
            started = time.perf_counter()
            store.roll_up(now)
            print(f"{name}: rolling up until {now - T0} took {time.perf_counter() - started:.1f} s")
        p50, p95 = latencies(lambda: store.stacks(hour), args.queries)
        print(
            f"{name}: flame graph of the hour, all hosts, {label}: p50 {p50:.0f} ms, p95 {p95:.0f} ms "
            "(target p95 <= 500 ms)"
        )
        p50, p95 = latencies(lambda: store.stacks(one), args.queries)
        print(f"{name}: flame graph of the hour, one host, {label}: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    # Not whole hours (ClickHouse then reads every host's minutes): minutes 5 to 65.
    shifted = Filters("bench", T0 + timedelta(minutes=5), T0 + timedelta(minutes=65))
    p50, p95 = latencies(lambda: store.stacks(shifted), args.queries)
    print(f"{name}: flame graph of minutes 5 to 65, all hosts: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    week_start = T0 + timedelta(days=1)
    steps = 7 * 24 * 60 // args.week_interval
    count, seconds = ingest(
        store, dataset(args.week_hosts, week_start, steps, timedelta(minutes=args.week_interval), args.stacks)
    )
    print(
        f"{name}: ingested a week of {args.week_hosts} hosts (one profile per {args.week_interval} min): "
        f"{count} profiles in {seconds:.1f} s"
    )
    week = Filters("bench", week_start, week_start + timedelta(days=7))
    p50, p95 = latencies(lambda: store.stacks(week), args.queries)
    print(f"{name}: flame graph of the week, before the rollup: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    started = time.perf_counter()
    store.roll_up(week_start + timedelta(days=7, hours=1))
    print(f"{name}: rolling the week up took {time.perf_counter() - started:.1f} s")
    p50, p95 = latencies(lambda: store.stacks(week), args.queries)
    print(f"{name}: flame graph of the week, from the rollup: p50 {p50:.0f} ms, p95 {p95:.0f} ms")


@dataclasses.dataclass
class Serving:
    url: str
    headers: dict[str, str]
    pid: int

    def post(self, body: bytes, encoding: str = "gzip") -> int:
        headers = {**self.headers, "Content-Encoding": encoding}
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            return int(response.status)

    def workers(self) -> list[int]:
        """The worker processes (the children of `serve` but multiprocessing's tracker)."""
        found = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                if b"multiprocessing.resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
        return found

    def workers_rss_mb(self) -> list[float]:
        return [
            int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
            for pid in self.workers()
        ]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes have used (their threads included)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def clickhouse_servers(directory: Path) -> list[int]:
    """The clickhouse-server processes keeping their data under `directory`."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            mine = entry.name.isdigit() and str(directory).encode() in (entry / "cmdline").read_bytes()
            if mine and (entry / "exe").resolve().name.startswith("clickhouse"):
                found.append(int(entry.name))
    return found


@contextlib.contextmanager
def serving(directory: Path, args: argparse.Namespace, name: str, storage: str) -> Iterator[Serving]:
    """`gprofiler-studio serve --workers N` on a free port, into the data directory's SQLite or
    `storage`, with an upload token (no budget: an hour of 100 hosts arrives here in about a minute
    and a half)."""
    studio = [sys.executable, "-m", "gprofiler_studio.cli", "--data-dir", str(directory / f"http-{name}")]
    studio += ["--storage", storage] if storage else []
    create = ["token", "create", "--service", "bench", "--profiles-per-minute", "0", "--mb-per-day", "0"]
    token = subprocess.run([*studio, *create], capture_output=True, text=True)
    port = free_port()
    server = subprocess.Popen(
        [*studio, "serve", "--port", str(port), "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/v2/profiles?service=bench"
    headers = {"GPROFILER-API-KEY": token.stdout.strip(), "GPROFILER-SERVICE-NAME": "bench",
               "Content-Type": "application/json"}  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(1)
        yield Serving(url, headers, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)


def http_ingest(directory: Path, args: argparse.Namespace, name: str = "sqlite", storage: str = "") -> float:
    """The same hour of profiles POSTed to `gprofiler-studio serve --workers N` by concurrent
    clients, into the data directory's SQLite or `storage`; returns profiles/s."""
    with serving(directory, args, name, storage) as studio:
        # The coming hour: studio's rollup loop runs meanwhile, and as in production no profile is
        # older than what it has rolled up (such late ones are merged into the rollups, slower).
        coming = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        bodies = list(dataset(args.hosts, coming, 60, timedelta(minutes=1), args.stacks))
        servers, workers = clickhouse_servers(directory), studio.workers()
        server_cpu, worker_cpu = cpu_seconds(servers), cpu_seconds(workers)
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            statuses = list(pool.map(studio.post, bodies))
        seconds = time.perf_counter() - started
        server_cpu, worker_cpu = cpu_seconds(servers) - server_cpu, cpu_seconds(workers) - worker_cpu
    assert statuses == [200] * len(bodies), Counter(statuses)
    rate = len(bodies) / seconds
    print(
        f"{name} over HTTP: {len(bodies)} profiles from {args.clients} concurrent clients into "
        f"`serve --workers {args.workers}` in {seconds:.1f} s: {rate:.1f} profiles/s; CPU per profile: "
        f"studio workers {worker_cpu / len(bodies) * 1000:.1f} ms, "
        f"clickhouse-server {server_cpu / len(bodies) * 1000:.1f} ms"
    )
    return rate


def decoding_ceiling(args: argparse.Namespace) -> None:
    """What decoding alone allows on this machine: every store's uploads are inflated, parsed and
    validated by the same code before anything is stored."""
    bodies = list(dataset(20, T0, 5, timedelta(minutes=1), args.stacks))
    started = time.process_time()
    for body in bodies:
        parse_upload(inflate(body, "gzip"))
    per_profile = (time.process_time() - started) / len(bodies)
    cores = len(os.sched_getaffinity(0))
    print(
        f"decoding alone: {per_profile * 1000:.1f} ms of CPU per profile: at most "
        f"{cores / per_profile:.0f} profiles/s on these {cores} cores with nothing stored and no clients"
    )


def soak(directory: Path, args: argparse.Namespace, storage: str) -> None:
    """Uploads for `--soak-minutes` without a pause; each worker's RSS after the first minute, every
    5 minutes, and at the end. Profiles of 100 hosts and 10 minutes are built once, sent without
    gzip (building ~1 MB texts anew would take the clients' CPU) under a new host name each round
    (`host-` is replaced by `hNNNN`: same length, new identities)."""
    coming = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    pool = [gzip.decompress(body) for body in dataset(100, coming, 10, timedelta(minutes=1), args.stacks)]
    rounds = itertools.count()
    lock = threading.Lock()
    sent, statuses = 0, Counter[int]()
    with serving(directory, args, "soak", storage) as studio:
        deadline = time.monotonic() + args.soak_minutes * 60
        started = time.monotonic()
        marks = [started + 60 + 300 * index for index in range(args.soak_minutes // 5 + 1)]

        def client() -> None:
            nonlocal sent
            while time.monotonic() < deadline:
                with lock:
                    number = next(rounds)
                body = pool[number % len(pool)].replace(b"host-", b"h%04d" % (number // len(pool)))
                status = studio.post(body, "identity")
                with lock:
                    sent += 1
                    statuses[status] += 1

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for mark in marks:
            time.sleep(max(0.0, min(mark, deadline) - time.monotonic()))
            if time.monotonic() >= deadline:
                break
            minute = (time.monotonic() - started) / 60
            rss = ", ".join(f"{size:.0f} MB" for size in studio.workers_rss_mb())
            print(f"soak: minute {minute:4.1f}: {sent} profiles stored; workers' RSS {rss}", flush=True)
        for thread in threads:
            thread.join()
        rss = ", ".join(f"{size:.0f} MB" for size in studio.workers_rss_mb())
        seconds = time.monotonic() - started
        rate = sent / seconds
        print(f"soak: end, minute {seconds / 60:.1f}: {sent} profiles ({rate:.1f}/s); workers' RSS {rss}")
    assert set(statuses) == {200}, statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--stacks", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--week-hosts", type=int, default=5)
    parser.add_argument("--week-interval", type=int, default=10, help="minutes between a host's profiles")
    parser.add_argument("--store", choices=["sqlite", "clickhouse", "both", "none"], default="both")
    parser.add_argument("--http", action="store_true", help="also ingest over HTTP into `serve --workers`")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--soak-minutes",
        type=int,
        default=0,
        help="then upload to ClickHouse this long, printing RSS",
    )
    args = parser.parse_args(argv)
    tune_malloc()  # as `gprofiler-studio serve` does
    directory = Path(tempfile.mkdtemp(prefix="gprofiler-bench-studio-", dir="/var/tmp"))
    try:
        if args.store in ("sqlite", "both"):
            store = SqliteStore(directory / "studio.sqlite3")
            run_store("sqlite", store, args)
            store.close()
            print(f"sqlite: file size {(directory / 'studio.sqlite3').stat().st_size / 2**20:.0f} MB")
        if args.store in ("clickhouse", "both"):
            with running_clickhouse(directory / "clickhouse") as url:
                clickhouse = ClickHouseStore(f"{url}/bench?batch_seconds=0")  # one thread: none to wait for
                run_store("clickhouse", clickhouse, args)
                clickhouse.close()
        if args.http:
            decoding_ceiling(args)
            sqlite_rate = http_ingest(directory, args)
            with running_clickhouse(directory / "clickhouse-http") as url:
                clickhouse_rate = http_ingest(directory, args, "clickhouse", f"{url}/bench_http")
            print(f"clickhouse over HTTP / sqlite over HTTP: {clickhouse_rate / sqlite_rate:.2f}x")
            with running_cluster(directory / "cluster", "bench") as (_, servers):
                storage = f"{servers}/bench_http?cluster=bench"
                cluster_rate = http_ingest(directory, args, "clickhouse, 2 shards", storage)
                print(f"2 shards / 1 server over HTTP: {cluster_rate / clickhouse_rate:.2f}x")
                cluster = ClickHouseStore(storage)
                coming = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(
                    hours=1
                )
                hour = Filters("bench", coming, coming + timedelta(hours=1))
                p50, p95 = latencies(lambda: cluster.stacks(hour), args.queries)
                stacks = len(cluster.stacks(hour))
                print(
                    f"2 shards: flame graph of the hour, all hosts ({stacks} stacks): "
                    f"p50 {p50:.0f} ms, p95 {p95:.0f} ms"
                )
                cluster.close()
            with running_replicas(directory / "replicas", "bench") as (_, servers):
                storage = f"{servers}/bench_http?cluster=bench"
                replicated_rate = http_ingest(directory, args, "clickhouse, 1 shard of 2 replicas", storage)
                print(f"2 replicas / 1 server over HTTP: {replicated_rate / clickhouse_rate:.2f}x")
        if args.soak_minutes:
            with running_clickhouse(directory / "clickhouse-soak") as url:
                soak(directory, args, f"{url}/bench_soak")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
