"""The Debian package (scripts/build_deb.sh): contents, lintian, the unit, and its whole life on this machine.

The lifecycle test really installs, upgrades, removes and purges the package with dpkg (and purges
any gprofiler package it finds first). systemd is not PID 1 here, so the unit is checked with
`systemd-analyze verify` and its command is run the way systemd would: with the environment file,
the capability bounding set, NoNewPrivileges and the umask the unit declares.
"""

import configparser
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gprofiler import __version__
from tests.integration.conftest import PYTHON, ROOT, TARGETS, parse_profile, running, wait_for
from tests.recording_server import RecordingServer

UPGRADE_VERSION = f"{__version__}+upgrade.test"
UNIT = Path("/lib/systemd/system/gprofiler.service")
WANTS = Path("/etc/systemd/system/multi-user.target.wants/gprofiler.service")
ENVS = Path("/opt/gprofiler/envs.sh")
JVM_AGE = 3.5


def _build(executable: Path, version: str) -> Path:
    result = subprocess.run(
        [str(ROOT / "scripts" / "build_deb.sh"), str(executable)],
        env={**os.environ, "GPROFILER_DEB_VERSION": version},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return ROOT / result.stdout.strip()


@pytest.fixture(scope="module")
def deb(executable: Path) -> Path:
    return _build(executable, __version__)


def _dpkg(*args: str) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + 300
    while True:
        result = subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=300)
        # Another package manager (an apt run, unattended-upgrades) holds dpkg's lock: wait for it.
        if "lock" not in result.stderr or result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert result.returncode == 0, f"dpkg {' '.join(args)}: {result.stdout}{result.stderr}"
    return result


def _installed_version() -> str | None:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status} ${Version}", "gprofiler"], capture_output=True, text=True
    )
    if result.returncode != 0:
        return None
    status, _, version = result.stdout.rpartition(" ")
    return version if status == "install ok installed" else status


@pytest.fixture
def clean_system() -> Iterator[None]:
    subprocess.run(["dpkg", "--purge", "gprofiler"], capture_output=True, timeout=300)
    yield
    subprocess.run(["dpkg", "--purge", "gprofiler"], capture_output=True, timeout=300)


def test_package_contents_and_fields(deb: Path) -> None:
    assert deb.name == f"gprofiler_{__version__}_amd64.deb"
    info = subprocess.run(
        ["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(line.split(": ", 1) for line in info.splitlines() if line[:1] != " " and ": " in line)
    assert fields["Package"] == "gprofiler" and fields["Version"] == __version__
    assert fields["Architecture"] == "amd64" and "Depends" not in fields  # self-contained
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True)
    entries = {line.split()[-1].removeprefix("."): line.split()[0] for line in listing.stdout.splitlines()}
    assert entries["/opt/gprofiler/gprofiler"] == "-rwxr-xr-x"
    assert entries["/opt/gprofiler/envs.sh.template"] == "-rw-r--r--"
    assert entries["/lib/systemd/system/gprofiler.service"] == "-rw-r--r--"
    assert "/opt/gprofiler/envs.sh" not in entries  # the user's file is never shipped
    assert {"/usr/share/doc/gprofiler/copyright", "/usr/share/doc/gprofiler/changelog.gz"} <= entries.keys()


def test_lintian_reports_nothing(deb: Path) -> None:
    if shutil.which("lintian") is None:
        pytest.fail("lintian is missing (./dev.sh setup-test installs it)")
    result = subprocess.run(
        ["lintian", "--pedantic", "--fail-on", "error,warning", str(deb)], capture_output=True, text=True
    )
    findings = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:", "I:", "P:")]
    assert result.returncode == 0 and findings == [], result.stdout + result.stderr


def _unit() -> configparser.RawConfigParser:
    unit = configparser.RawConfigParser(strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    return unit


def _run_like_systemd(extra_env: dict[str, str]) -> subprocess.Popen[str]:
    """The unit's ExecStart with its EnvironmentFile, capability bounding set, NoNewPrivileges and UMask."""
    service = _unit()["Service"]
    environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for line in Path(service["EnvironmentFile"]).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            environment[name.strip()] = value.strip()
    environment.update(extra_env)
    capabilities = ",".join(
        f"+{cap.lower().removeprefix('cap_')}" for cap in service["CapabilityBoundingSet"].split()
    )
    assert service["NoNewPrivileges"] == "yes"
    return subprocess.Popen(
        [
            "setpriv",
            f"--bounding-set=-all,{capabilities}",
            "--no-new-privs",
            "--",
            *service["ExecStart"].split(),
        ],
        env=environment,
        umask=int(service["UMask"], 8),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check_unconfigured_service_stops_with_a_reason() -> None:
    """The template has no token yet: exit code 2 (RestartPreventExitStatus) and one clear line."""
    service = _run_like_systemd({})
    _, stderr = service.communicate(timeout=60)
    assert service.returncode == 2, stderr
    assert "uploading needs --token" in stderr


def _check_service_uploads_with_its_hardening(tmp_path: Path, java_classes: Path) -> None:
    out, server = tmp_path / "service-out", RecordingServer().start()
    settings = {
        "GPROFILER_TOKEN": "t0ken",
        "GPROFILER_SERVICE_NAME": "deb-test",
        "GPROFILER_SERVER_HOST": server.url,
        "GPROFILER_SPOOL_DIR": str(tmp_path / "spool"),
        "GPROFILER_OUTPUT_DIR": str(out),
        "GPROFILER_PROFILING_DURATION": "4",
        "GPROFILER_LOG_FILE": str(tmp_path / "service.log"),
    }
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    jvm = [
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        "--mount",
        *as_nobody,
        "java",
        "-cp",
        str(java_classes),
    ]
    try:
        with running(PYTHON, TARGETS / "busy.py", "60"), running(*jvm, "Busy", "60", cwd=Path("/tmp")):
            time.sleep(JVM_AGE)
            service = _run_like_systemd(settings)
            try:
                wait_for(lambda: len(server.profiles) >= 1, 60, "the service's first upload")
                service.send_signal(signal.SIGTERM)
                _, stderr = service.communicate(timeout=30)
            finally:
                if service.poll() is None:
                    service.kill()
                    service.wait()
    finally:
        server.stop()
    assert service.returncode == 0, stderr + (tmp_path / "service.log").read_text()
    assert server.profiles[0].body["profile"] == next(iter(sorted(out.glob("profile_*.col")))).read_text()
    profile = parse_profile(out / "last_profile.col")
    python = profile.of_app(str(TARGETS / "busy.py"))
    assert any(frame.startswith("gp_leaf") for stack in python for frame in stack), "py-spy did not run"
    java = profile.of_app("java: Busy")
    assert any(frame == "Busy.leaf_[j]" for stack in java for frame in stack), "the JVM was not attached"


def test_install_upgrade_remove_purge(
    deb: Path, executable: Path, clean_system: None, tmp_path: Path, java_classes: Path
) -> None:
    install = _dpkg("-i", str(deb))
    assert _installed_version() == __version__
    assert "systemd is not running" in install.stdout  # and says so
    assert WANTS.is_symlink() and os.readlink(WANTS) == str(UNIT)  # enabled
    assert ENVS.read_text() == Path("/opt/gprofiler/envs.sh.template").read_text()
    assert ENVS.stat().st_mode & 0o777 == 0o600  # it may hold a token
    assert Path("/var/lib/gprofiler").stat().st_mode & 0o777 == 0o700  # profiles name every process
    verify = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    service = _unit()["Service"]
    for directive, value in {
        "CPUQuota": "5%",
        "MemoryMax": "2G",
        "LimitCORE": "0",
        "Restart": "always",
        "RestartSec": "5",
        "RuntimeMaxSec": "1d",
        "KillMode": "control-group",
        "TimeoutStopSec": "10",
    }.items():
        assert service[directive] == value, directive

    _check_unconfigured_service_stops_with_a_reason()
    _check_service_uploads_with_its_hardening(tmp_path, java_classes)

    users_settings = ENVS.read_text() + "GPROFILER_PROFILING_FREQUENCY=49\n"
    ENVS.write_text(users_settings)
    _dpkg("-i", str(_build(executable, UPGRADE_VERSION)))
    assert _installed_version() == UPGRADE_VERSION
    assert ENVS.read_text() == users_settings  # the user's file survives the upgrade
    assert WANTS.is_symlink()

    _dpkg("--remove", "gprofiler")
    assert not Path("/opt/gprofiler/gprofiler").exists() and not UNIT.exists()
    assert not WANTS.exists() and not WANTS.is_symlink()  # disabled
    assert ENVS.read_text() == users_settings  # remove keeps configuration

    _dpkg("--purge", "gprofiler")
    assert _installed_version() is None
    assert not ENVS.exists() and not Path("/opt/gprofiler").exists()
    assert not Path("/var/lib/gprofiler").exists()
