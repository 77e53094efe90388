"""The agent uploading to a real `gprofiler-studio serve` (embedded store), and studio's refusals.

Counts are checked exactly: studio's merged flame graph for the service must equal the sum of the
profiles the agent wrote locally in the same run (-o and -u together).
"""

import gzip
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gprofiler.output.flamegraph import MAX_DRAWN_DEPTH, OMITTED_FRAMES
from tests.clickhouse_server import free_port
from tests.integration.conftest import AgentFiles, running, wait_for
from tests.studio_upload import upload_stacks

STUDIO = [sys.executable, "-m", "gprofiler_studio.cli"]


@dataclass
class Studio:
    data: Path
    port: int
    token: str
    reader: str  # an all-services token
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        with open(self.data / "studio.log", "ab") as log:  # read it when a test fails
            self.process = subprocess.Popen(
                [*STUDIO, "--data-dir", str(self.data), "serve", "--port", str(self.port), *extra],
                stdout=log,
                stderr=log,
            )
        wait_for(self.healthy, 30, "studio to answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
            self.process = None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/health_check", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def get(self, path: str, token: str | None = None, **params: str | list[str]) -> tuple[int, bytes]:
        query = urllib.parse.urlencode(params, doseq=True)
        request = urllib.request.Request(f"{self.url}{path}?{query}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def collapsed(self, service: str = "checkout", **params: str | list[str]) -> Counter[str]:
        query: dict[str, str | list[str]] = {"start": "0", **params}
        status, body = self.get(
            "/api/v1/flamegraph", self.reader, service=service, format="collapsed", **query
        )
        assert status == 200, body
        counts: Counter[str] = Counter()
        for line in body.decode().splitlines():
            stack, _, count = line.rpartition(" ")
            counts[stack] += int(count)
        return counts


def _token(data: Path, *scope: str) -> str:
    result = subprocess.run(
        [*STUDIO, "--data-dir", str(data), "token", "create", *scope], capture_output=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().strip()


def _local_stacks(agent: AgentFiles) -> Counter[str]:
    """Every stack of every local profile, without the metadata index and container fields."""
    counts: Counter[str] = Counter()
    for path in agent.profiles():
        for line in path.read_text().splitlines()[1:]:
            stack, _, count = line.rpartition(" ")
            counts[stack.split(";", 2)[2]] += int(count)
    return counts


def _agent_args(studio: Studio, agent: AgentFiles) -> list[str]:
    return ["-c", "-d", "2", "-u", "--token", studio.token, "--service-name", "checkout",
            "--server-host", studio.url, "--spool-dir", str(agent.base / "spool")]  # fmt: skip


def _spool_empty(agent: AgentFiles) -> bool:
    return not list((agent.base / "spool").glob("*.json.gz"))


def test_agent_cycles_land_in_studio_with_exact_counts(
    agent: AgentFiles, studio: Studio, busy_fp: Path
) -> None:
    with running(busy_fp, "60"):
        process = agent.start(*_agent_args(studio, agent))
        try:
            wait_for(lambda: len(agent.profiles()) >= 3 and _spool_empty(agent), 60, "three uploaded cycles")
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)
    assert _spool_empty(agent)
    stored = studio.collapsed()
    assert stored == _local_stacks(agent)
    busy = {stack: count for stack, count in stored.items() if stack.startswith(f"{busy_fp.name};")}
    assert any(stack.endswith("gp_outer;gp_middle;gp_leaf") for stack in busy)
    assert sum(busy.values()) > 0.5 * 3 * 2 * 11
    status, body = studio.get("/api/v1/seen", studio.reader, service="checkout", start="0")
    assert status == 200 and busy_fp.name in json.loads(body)["processes"]
    assert studio.collapsed(process=busy_fp.name) == busy


def test_studio_down_and_agent_restarted_loses_nothing(agent: AgentFiles, studio: Studio) -> None:
    process = agent.start(*_agent_args(studio, agent))
    try:
        wait_for(lambda: len(agent.profiles()) >= 1 and _spool_empty(agent), 60, "a first upload")
        studio.stop()
        wait_for(lambda: len(list((agent.base / "spool").glob("*.json.gz"))) >= 2, 60, "two cycles spooled")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    studio.start()
    process = agent.start(*_agent_args(studio, agent))
    try:
        written = len(agent.profiles())
        wait_for(lambda: len(agent.profiles()) >= written + 1 and _spool_empty(agent), 60, "catching up")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert _spool_empty(agent)
    assert studio.collapsed() == _local_stacks(agent)


def _post(
    studio: Studio, body: bytes, *, token: str | None, params: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    query = urllib.parse.urlencode({"service": "checkout", "hostname": "h", **(params or {})})
    request = urllib.request.Request(f"{studio.url}/api/v2/profiles?{query}", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("GPROFILER-SERVICE-NAME", "checkout")
    request.add_header("Content-Encoding", "gzip")
    if token:
        request.add_header("GPROFILER-API-KEY", token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _gprofiler_151_body(fixtures_profile: str, start: str, end: str) -> bytes:
    """The body exactly as gProfiler 1.51's client builds it: naive UTC times, seconds precision."""
    document = {
        "start_time": start,
        "end_time": end,
        "hostname": "legacy-host",
        "profile": fixtures_profile,
        "cpu_avg": 3.2,
        "mem_avg": 41.0,
        "spawn_time": start,
        "gpid": "",
    }
    return gzip.compress(json.dumps(document, ensure_ascii=False).encode())


FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "cycle.col"


@dataclass(frozen=True)
class LegacyCycle:
    """A 3 s cycle of an hour ago, its times as gProfiler 1.51 writes them (naive UTC, seconds),
    and a query range around it."""

    start: datetime

    @classmethod
    def an_hour_ago(cls) -> "LegacyCycle":
        return cls((datetime.now(timezone.utc) - timedelta(hours=1)).replace(second=24, microsecond=0))

    def times(self) -> tuple[str, str]:
        naive = self.start.replace(tzinfo=None)
        return naive.isoformat(), (naive + timedelta(seconds=3)).isoformat()

    def body(self, profile: str) -> bytes:
        return _gprofiler_151_body(profile, *self.times())

    def around(self) -> dict[str, str]:
        return {"start": (self.start - timedelta(minutes=10)).isoformat(),
                "end": (self.start + timedelta(minutes=10)).isoformat()}  # fmt: skip


def test_a_gprofiler_151_upload_is_accepted_and_queryable(studio: Studio) -> None:
    text, cycle = FIXTURE.read_text(), LegacyCycle.an_hour_ago()
    legacy_query = {"key": studio.token, "timestamp": cycle.times()[1], "version": "1.51.0"}
    status, answer = _post(studio, cycle.body(text), token=studio.token, params=legacy_query)
    assert status == 200 and answer["gpid"]
    stored = studio.collapsed(**cycle.around(), host="legacy-host")
    expected: Counter[str] = Counter()
    for line in text.splitlines()[1:]:
        stack, _, count = line.rpartition(" ")
        expected[stack.split(";", 2)[2]] += int(count)
    assert stored == expected


def _document(start: str, end: str, profile: str = "# {}\n0;;p;f 1\n", **fields: object) -> bytes:
    document = {"start_time": start, "end_time": end, "hostname": "h", "profile": profile, **fields}
    return gzip.compress(json.dumps(document).encode())


def test_bad_uploads_are_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    data = tmp_path / "studio"
    studio = Studio(data, free_port(), _token(data, "--service", "checkout"), _token(data, "--all"))
    studio.start("--max-body-mb", "0.25")
    try:
        cycle = LegacyCycle.an_hour_ago()
        start, end = cycle.times()
        good = cycle.body(FIXTURE.read_text())
        bomb = gzip.compress(b"{" + b" " * (100 * 1024 * 1024) + b"}")
        now = datetime.now(timezone.utc)
        cases = [
            (good, None, 401),  # no token
            (good, "wrong-token", 401),
            (good, studio.reader, 403),  # a read-only token cannot upload
            (gzip.compress(b"x" * 10) + b"\0" * (300 * 1024), studio.token, 413),  # over --max-body-mb
            (bomb, studio.token, 413),
            (gzip.compress(b"{not json"), studio.token, 400),
            (cycle.body("# {}\n1;;a;b 1\n1;;a;b one\n"), studio.token, 422),
            (good + b"trailing", studio.token, 400),  # data after the gzip stream
            (cycle.body("# {}\n0;;a;b \u00b2\n"), studio.token, 422),  # a count in unicode digits
            (cycle.body("# {}\n\u0661;;a;b 1\n"), studio.token, 422),
            (_document(start, end, cpu_avg=250.0), studio.token, 400),  # not a percentage
            (_document(start, end, mem_avg=-1), studio.token, 400),
            (cycle.body("# " + "[" * 100_000 + "\n0;;p;f 1\n"), studio.token, 422),  # nesting
            (_document("0001-01-01T00:30:00+05:00", end), studio.token, 400),  # before year 1 in UTC
            (_document("9999-12-31T23:59:59-05:00", end), studio.token, 400),  # after 9999 in UTC
            (_document((now - timedelta(days=8)).isoformat(), (now - timedelta(days=8)).isoformat()),
             studio.token, 422),  # older than --retention-days
            (_document((now + timedelta(days=2)).isoformat(), (now + timedelta(days=2)).isoformat()),
             studio.token, 422),  # from the future
        ]  # fmt: skip
        for body, token, expected in cases:
            status, answer = _post(studio, body, token=token)
            assert (status, bool(answer.get("message"))) == (expected, True), (expected, answer)
        assert studio.collapsed() == Counter()
        hostile_hosts = ["x' OR '1'='1", "a); DROP TABLE stacks; --"]
        assert studio.collapsed(host=hostile_hosts, process=["%' --"]) == Counter()
        assert studio.get("/api/v1/services", None)[0] == 401
        assert studio.get("/api/v1/flamegraph", studio.token, service="other")[0] == 403
        assert studio.healthy()
        status, answer = _post(studio, good, token=studio.token)
        assert status == 200  # still serving, and the store intact
        assert sum(studio.collapsed(**cycle.around()).values()) > 0
    finally:
        studio.stop()


def test_extreme_query_times_are_400s_with_a_message(studio: Studio) -> None:
    for times in (
        {"end": "0001-01-01T00:30:00"},  # the default start, an hour before, is before year 1
        {"start": "9999-12-31T23:00:00-05:00", "end": "9999-12-31T23:59:59-05:00"},
        {"start": "²", "end": "1"},
        {"start": "1e400"},
        {"start": "99999999999999999999"},
    ):
        status, body = studio.get("/api/v1/flamegraph", studio.reader, service="checkout", **times)
        assert status == 400 and json.loads(body)["message"], (times, body)
    status, body = studio.get("/api/v1/flamegraph", studio.reader, service="checkout", download="maybe")
    assert status == 422 and "download" in json.loads(body)["message"]


def test_metrics_and_openapi_are_served(studio: Studio) -> None:
    status, body = studio.get("/metrics")
    assert status == 200 and b"studio_profiles_ingested_total" in body
    status, body = studio.get("/openapi.json")
    assert status == 200 and "/api/v2/profiles" in json.loads(body)["paths"]


DEEP_FRAMES = 5000


def test_a_5000_frame_stack_goes_through_every_format(studio: Studio) -> None:
    """Nested JSON stopped at ~500 frames (a 500); every route now answers with the whole stack or,
    where a browser draws it, with its middle replaced by one marker frame."""
    deep = ";".join(["deep_proc", *(f"f{depth}" for depth in range(DEEP_FRAMES))])
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    upload_stacks(
        studio.url, studio.token, "checkout", "deep-host", now - timedelta(minutes=3), {deep: 9, "x;y": 1}
    )
    window = {
        "start": (now - timedelta(minutes=10)).isoformat(),
        "end": (now + timedelta(minutes=1)).isoformat(),
    }
    assert studio.collapsed(**window) == Counter({deep: 9, "x;y": 1})
    status, body = studio.get(
        "/api/v1/flamegraph", studio.reader, service="checkout", format="tree", **window
    )
    assert status == 200
    text = body.decode()
    assert text.count('"c":[') == 1 + DEEP_FRAMES + 1  # the root, deep_proc and every frame but the leaf; x
    assert f'{{"n":"f{DEEP_FRAMES - 1}","v":9}}' in text
    status, body = studio.get(
        "/api/v1/flamegraph", studio.reader, service="checkout", format="flat", **window
    )
    flat = json.loads(body)
    assert status == 200 and OMITTED_FRAMES in flat["names"] and f"f{DEEP_FRAMES - 1}" in flat["names"]
    assert len(flat["value"]) == 1 + MAX_DRAWN_DEPTH + 2 and flat["value"][0] == 10
    status, body = studio.get(
        "/api/v1/flamegraph", studio.reader, service="checkout", format="html", **window
    )
    assert status == 200 and OMITTED_FRAMES.encode() in body
    earlier = {
        "base_start": (now - timedelta(hours=2)).isoformat(),
        "base_end": (now - timedelta(hours=1)).isoformat(),
    }
    status, body = studio.get("/api/v1/diff", studio.reader, service="checkout", **window, **earlier)
    assert status == 200
    assert {row["stack"]: row["count"] for row in json.loads(body)["stacks"]} == {deep: 9, "x;y": 1}


NAMED = (
    "import ctypes, sys, time\n"
    "ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME\n"
    "end = time.monotonic() + 30\n"
    "while time.monotonic() < end: pass\n"
)


def test_names_studio_would_refuse_are_written_so_it_takes_them(agent: AgentFiles, studio: Studio) -> None:
    """A process may name itself "" or "ends in space " (the names py-spy's stacks are filed under);
    the profile once came back 422 and stayed in the spool for good."""
    with running(sys.executable, "-c", NAMED, ""), running(sys.executable, "-c", NAMED, "gp_sp "):
        time.sleep(0.5)
        result = agent.run(*_agent_args(studio, agent)[1:], timeout=60)
        assert result.returncode == 0, result.stderr
        wait_for(lambda: _spool_empty(agent), 30, "the upload")
    stored = studio.collapsed()
    assert stored == _local_stacks(agent)
    processes = {stack.split(";", 1)[0] for stack in stored}
    assert {"[empty]", "gp_sp\\x20"} <= processes, processes


def _post_gprofiler_151_logs(studio: Studio, token: str, service: str) -> int:
    """A log batch posted as gProfiler 1.51's remote log handler (glogger's Sender) posts it: to
    /api/v1/logs with no query, X-Token, X-Application-Name, the service only in the metadata."""
    document = {
        "batch_id": "4f0c2a9e8b7d4c1aa0e1f2b3c4d5e6f7",
        "metadata": {"run_id": "run-1", "gprofiler_version": "1.51.0", "service_name": service,
                     "hostname": "legacy-host"},
        "lost_logs_count": 0,
        "logs": [{"severity": 2, "timestamp": 1764000000000.0,
                  "text": {"message": "Snapshot starting", "serial_no": 0, "logger_name": "gprofiler.main",
                           "cycle_id": "cycle-1"}}],
    }  # fmt: skip
    request = urllib.request.Request(
        f"{studio.url}/api/v1/logs", method="POST",
        data=gzip.compress(json.dumps(document, separators=(",", ":")).encode(), compresslevel=6),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json",
                 "X-Application-Name": "gprofiler", "X-Token": token},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        assert json.loads(error.read())["message"]
        return error.code


def test_a_gprofiler_151_log_batch_is_accepted_with_the_same_token_rules(studio: Studio) -> None:
    """It was refused with 400 "no service name": the service is only in the batch's metadata."""
    assert _post_gprofiler_151_logs(studio, studio.token, "checkout") == 200
    assert _post_gprofiler_151_logs(studio, "wrong-token", "checkout") == 401
    assert _post_gprofiler_151_logs(studio, studio.token, "billing") == 403  # another service's batch
    assert _post_gprofiler_151_logs(studio, studio.reader, "checkout") == 403  # a read-only token
    _, body = studio.get("/metrics")
    assert b"studio_agent_log_records_total 1.0" in body
