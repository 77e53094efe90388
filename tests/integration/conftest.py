"""Helpers for tests that run the real agent (as root) against real programs they start."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gprofiler.output.collapsed import read_header
from gprofiler.stacks.tool_output import split_count
from tests.clickhouse_server import (
    CLICKHOUSE,
    ZOOKEEPER_JAR,
    free_port,
    running_clickhouse,
    running_cluster,
    running_replicas,
)
from tests.studio_samples import CLUSTER

if TYPE_CHECKING:
    from tests.integration.test_studio import Studio

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ROOT / "tests" / "targets"
ARTIFACTS = ROOT / "test-artifacts"
CHAIN = ("main", "gp_outer", "gp_middle", "gp_leaf")


@pytest.fixture(scope="session", autouse=True)
def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("integration tests run perf system-wide and must run as root (./dev.sh test)")
    if shutil.which("perf") is None:
        pytest.fail("perf is not installed (./dev.sh setup-test installs it)")


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("targets")


def compile_c(source: str, output: Path, *flags: str) -> Path:
    subprocess.run(["gcc", *flags, "-o", str(output), str(TARGETS / source)], check=True, timeout=120)
    return output


@pytest.fixture(scope="session")
def busy_fp(build_dir: Path) -> Path:
    """busy.c with frame pointers in every function; its comm is the file name.

    -O0 because gcc 12 leaves leaf functions without a frame even with -fno-omit-frame-pointer
    -mno-omit-leaf-frame-pointer, and frame-pointer unwinding then skips the leaf's caller.
    """
    return compile_c("busy.c", build_dir / "gp_busy_fp", "-O0", "-fno-omit-frame-pointer")


@pytest.fixture(scope="session")
def busy_nofp(build_dir: Path) -> Path:
    """busy.c without frame pointers: only DWARF unwinding recovers its call chain."""
    return compile_c("busy.c", build_dir / "gp_busy_nofp", "-O2", "-fomit-frame-pointer")


@pytest.fixture(scope="session")
def tricky_names(build_dir: Path) -> Path:
    return compile_c("tricky_names.c", build_dir / "gp_tricky", "-O1", "-fno-omit-frame-pointer")


@pytest.fixture(scope="session")
def embedded_python(build_dir: Path) -> Path:
    return compile_c(
        "embedded_python.c", build_dir / "gp_embedded_py", "-O0", "-fno-omit-frame-pointer", "-ldl"
    )


@pytest.fixture(scope="session")
def go_program(build_dir: Path) -> Path:
    if shutil.which("go") is None:
        pytest.fail("go is not installed (./dev.sh setup-test installs golang-go)")
    output = build_dir / "gp_go"
    env = {**os.environ, "GOCACHE": str(build_dir / "go-cache"), "GOPATH": str(build_dir / "gopath")}
    subprocess.run(
        ["go", "build", "-o", str(output), str(TARGETS / "go" / "main.go")], check=True, env=env, timeout=300
    )
    return output


PYTHON = "/usr/bin/python3"  # Debian's interpreter: a plain CPython, as on a production host


@pytest.fixture(scope="session")
def java_classes() -> Iterator[Path]:
    """The Java targets' classes in a directory any user can read (for JVMs run as nobody)."""
    if shutil.which("javac") is None:
        pytest.fail("javac is missing (./dev.sh setup-test installs openjdk-17-jdk-headless)")
    directory = Path(tempfile.mkdtemp(prefix="gp-java-"))
    directory.chmod(0o755)
    names = ("Busy.java", "Deep.java", "Crash.java", "DevNull.java")
    sources = [str(TARGETS / "java" / name) for name in names]
    subprocess.run(["javac", "-d", str(directory), *sources], check=True, timeout=300, capture_output=True)
    for path in directory.iterdir():
        path.chmod(0o644)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def running(*argv: str | Path, cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A target program for the length of the block; killed and reaped afterwards.

    Without `cwd` it runs in a scratch directory, so files a target drops into its working
    directory (node 20 with --perf-basic-prof writes isolate-*-v8.log there) never land in the repo.
    """
    with tempfile.TemporaryDirectory(prefix="gp-target-") as scratch:
        process = subprocess.Popen(
            [str(arg) for arg in argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cwd or scratch,
        )
        try:
            time.sleep(0.2)
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class AgentFiles:
    """Where one agent run keeps everything, all inside the test's own temporary directory."""

    base: Path

    @property
    def output(self) -> Path:
        return self.base / "out"

    @property
    def tmpdir(self) -> Path:
        return self.base / "tmp"

    @property
    def log(self) -> Path:
        return self.base / "agent.log"

    @property
    def pid_file(self) -> Path:
        return self.base / "agent.pid"

    def command(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gprofiler",
            "--output-dir",
            str(self.output),
            "--log-file",
            str(self.log),
            "--pid-file",
            str(self.pid_file),
            *args,
        ]

    def env(self, **extra: str) -> dict[str, str]:
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("GPROFILER_")}
        environment.update({"TMPDIR": str(self.tmpdir), **extra})
        return environment

    def run(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), env=self.env(**env), capture_output=True, text=True, timeout=timeout
        )

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def profiles(self) -> list[Path]:
        return sorted(self.output.glob("profile_*.col"))


@pytest.fixture
def agent(tmp_path: Path) -> AgentFiles:
    return AgentFiles(tmp_path)


@dataclass
class ParsedProfile:
    header: dict[str, object]
    stacks: Counter[tuple[str, ...]]  # (container, comm, frames...) -> count
    metadata: dict[str, object]  # comm -> its application metadata entry

    def of_process(self, comm: str) -> Counter[tuple[str, ...]]:
        return Counter({stack[2:]: count for stack, count in self.stacks.items() if stack[1] == comm})

    def of_app(self, fragment: str) -> Counter[tuple[str, ...]]:
        """Frames (after the appid frame) of the processes whose app id mentions `fragment`.

        Tests give their targets unique paths, so other processes on the machine never match.
        """
        return Counter(
            {
                stack[3:]: count
                for stack, count in self.stacks.items()
                if len(stack) > 2 and stack[2].startswith("appid: ") and fragment in stack[2]
            }
        )

    def appid_of(self, fragment: str) -> set[str]:
        return {
            stack[2]
            for stack in self.stacks
            if len(stack) > 2 and stack[2].startswith("appid: ") and fragment in stack[2]
        }

    def with_frame(self, predicate: Callable[[str], bool]) -> Counter[tuple[str, ...]]:
        """Stacks (comm first) that have a frame matching `predicate`."""
        return Counter(
            {stack[1:]: count for stack, count in self.stacks.items() if any(predicate(f) for f in stack[2:])}
        )

    def frames(self) -> set[str]:
        return {frame for stack in self.stacks for frame in stack[2:]}


def parse_profile(path: Path) -> ParsedProfile:
    """Parse a .col file strictly: every line must be `index;container;comm;... count`."""
    text = path.read_bytes().decode("utf-8")  # must be valid UTF-8
    header = read_header(text)
    table = header["application_metadata"]
    assert isinstance(table, list) and table[0] is None
    stacks: Counter[tuple[str, ...]] = Counter()
    metadata: dict[str, object] = {}
    for line in text.splitlines()[1:]:
        parsed = split_count(line)
        assert parsed is not None, f"bad line {line!r}"
        fields = parsed[0].split(";")
        assert len(fields) >= 3 and fields[0].isdigit() and int(fields[0]) < len(table), f"bad line {line!r}"
        stacks[tuple(fields[1:])] += parsed[1]
        metadata[fields[2]] = table[int(fields[0])]
    return ParsedProfile(header, stacks, metadata)


def chain_share(stacks: Counter[tuple[str, ...]], chain: tuple[str, ...] = CHAIN) -> float:
    """Share of samples whose stack contains `chain` as consecutive frames, root first."""
    total = sum(stacks.values())
    hits = sum(
        count
        for stack, count in stacks.items()
        if any(stack[i : i + len(chain)] == chain for i in range(len(stack) - len(chain) + 1))
    )
    return hits / total if total else 0.0


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, comm) of the live direct children of a process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append((int(entry.name), comm))
    return found


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def is_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def processes_mentioning(text: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains `text`, e.g. an agent's TMPDIR."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and not is_gone(int(entry.name)):
            found.append(int(entry.name))
    return found


EXECUTABLE = ROOT / "build" / os.uname().machine / "gprofiler"


@pytest.fixture(scope="session")
def executable() -> Path:
    """The single-file build; `./dev.sh test` (re)builds it first, a bare pytest run builds it if missing."""
    if not EXECUTABLE.exists():
        subprocess.run([str(ROOT / "scripts" / "build_executable.sh")], check=True, timeout=900)
    return EXECUTABLE


EMPTY_ROOT = Path(__file__).with_name("empty_root.py")


def run_chrooted(
    tmp_path: Path,
    command: Sequence[str],
    *,
    copy: Path | None = None,
    out_at: str = "/out",
    host_proc: bool = False,
    env: Sequence[str] = (),
    tmp: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`command` chrooted by tests/integration/empty_root.py; its output directory is tmp_path/out."""
    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir(exist_ok=True)
    out.mkdir()
    helper = [sys.executable, str(EMPTY_ROOT), "--root", str(root), "--out", str(out), "--out-at", out_at]
    if copy is not None:
        helper += ["--copy", str(copy)]
    if host_proc:
        helper.append("--host-proc")
    if tmp is not None:
        helper += ["--tmp", str(tmp)]
    for variable in env:
        helper += ["--env", variable]
    return subprocess.run(
        ["unshare", "--mount", "--", *helper, "--", *command], capture_output=True, text=True, timeout=120
    )


@contextmanager
def _clickhouse_data(prefix: str, *needed: str) -> Iterator[Path]:
    """A scratch directory for the session's servers, removed afterwards; a test fails at once when
    a program the servers need is missing."""
    for program in (CLICKHOUSE, *needed):
        if not Path(program).exists():
            pytest.fail(f"{program} is missing (./dev.sh setup-test installs it)")
    data = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield data
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def clickhouse() -> Iterator[str]:
    """A ClickHouse server of its own (Debian's clickhouse-server), for the whole session."""
    with _clickhouse_data("gp-clickhouse-") as data, running_clickhouse(data) as url:
        yield url


@pytest.fixture(scope="session")
def clickhouse_cluster() -> Iterator[str]:
    """Two ClickHouse servers that know each other as the cluster `gp_test` (two shards), for the
    whole session: the store's URL prefix listing both."""
    with _clickhouse_data("gp-clickhouse-cluster-") as data, running_cluster(data, CLUSTER) as (_, url):
        yield url


@pytest.fixture(scope="session")
def clickhouse_replicas() -> Iterator[str]:
    """A ZooKeeper and two ClickHouse servers holding the one shard of the cluster `gp_test` as
    replicas, for the whole session: the store's URL prefix listing both."""
    java = shutil.which("java") or "java"
    with (
        _clickhouse_data("gp-clickhouse-replicas-", ZOOKEEPER_JAR, java) as data,
        running_replicas(data, CLUSTER) as (_, url),
    ):
        yield url


@pytest.fixture
def studio(tmp_path: Path) -> Iterator["Studio"]:
    """A `gprofiler-studio serve` on the embedded store, with an upload token for `checkout` and a
    token that reads every service."""
    from tests.integration.test_studio import Studio, _token  # that module imports this one

    data = tmp_path / "studio"
    server = Studio(data, free_port(), _token(data, "--service", "checkout"), _token(data, "--all"))
    server.start()
    yield server
    server.stop()
