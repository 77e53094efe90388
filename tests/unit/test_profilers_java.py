from pathlib import Path

import pytest

from gprofiler.discovery.appids import application_id
from gprofiler.discovery.runtimes import JAVA, runtime_from_exe, runtime_from_maps
from gprofiler.profilers.java.async_profiler import parse_collapsed, start_options, stop_options
from gprofiler.profilers.java.attach import AttachError, encode_request, parse_reply
from gprofiler.profilers.java.jfr_session import (
    jfc_settings,
    jfr_supported,
    parse_jdk_version,
    period_ms,
    remove_stale_outputs,
    start_command,
)
from gprofiler.profilers.java.profiler import selected_flags


def test_attach_request_and_reply() -> None:
    assert encode_request("jcmd", "VM.version") == b"1\0jcmd\0VM.version\0\0\0"
    assert encode_request("load", "/tmp/lib.so", "true", "start") == b"1\0load\0/tmp/lib.so\0true\0start\0"
    with pytest.raises(ValueError):
        encode_request("x", "1", "2", "3", "4")
    assert parse_reply(b"0\nOpenJDK 64-Bit Server VM version 17\n") == (
        0,
        "OpenJDK 64-Bit Server VM version 17\n",
    )
    assert parse_reply(b"-1\nError")[0] == -1
    with pytest.raises(AttachError):
        parse_reply(b"garbage")


@pytest.mark.parametrize(
    ("vm_version", "version", "supported"),
    [
        ("OpenJDK 64-Bit Server VM version 17.0.15+6-Debian-1deb12u1\nJDK 17.0.15\n", (17, 15), True),
        ("OpenJDK 64-Bit Server VM version 25.262-b10\nJDK 8.0_262\n", (8, 262), True),
        ("OpenJDK 64-Bit Server VM version 25.252-b09\nJDK 8.0_252\n", (8, 252), False),
        ("Java HotSpot(TM) 64-Bit Server VM version 11.0.2+9\nJDK 11.0.2\n", (11, 2), True),
    ],
)
def test_jdk_versions(vm_version: str, version: tuple[int, int], supported: bool) -> None:
    assert parse_jdk_version(vm_version) == version
    assert jfr_supported(version) is supported
    assert parse_jdk_version("no version here") is None


def test_jfr_commands() -> None:
    assert period_ms(11) == 91 and period_ms(100) == 10 and period_ms(1000) == 10
    settings = jfc_settings(91)
    assert '<event name="jdk.ExecutionSample">' in settings and "91 ms" in settings
    assert "jdk.NativeMethodSample" in settings
    command = start_command("gp-1", "/tmp/gp.jfc", 70, "/tmp/gp-1.jfr")
    assert command == "JFR.start name=gp-1 settings=/tmp/gp.jfc duration=70s filename=/tmp/gp-1.jfr"


def test_selected_flags() -> None:
    flags = "-XX:CICompilerCount=2 -XX:InitialHeapSize=398458880 -XX:MaxHeapSize=6320816128 "
    flags += "-XX:+UseG1GC -XX:-UseZGC"
    assert selected_flags(flags) == {
        "InitialHeapSize": "398458880",
        "MaxHeapSize": "6320816128",
        "UseG1GC": "true",
        "UseZGC": "false",
    }


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "java"


def test_async_profiler_commands() -> None:
    assert start_options("cpu", 90_000_000) == "start,event=cpu,interval=90000000,quiet"
    assert start_options("itimer", 10, "cstack=vm") == "start,event=itimer,interval=10,quiet,cstack=vm"
    assert stop_options("/tmp/o") == "stop,file=/tmp/o,collapsed,ann,dot,quiet"


def test_async_profiler_output_as_gprofiler_writes_it() -> None:
    """Real output of async-profiler 4.3 (`collapsed,ann,dot`) on tests/targets/java: interpreted
    and C1 frames (`_[0]`, `_[1]`) are Java frames `_[j]`; inlined `_[i]` and kernel `_[k]` stay;
    native frames (JNI, libc) stay plain."""
    busy = parse_collapsed((FIXTURES / "ap_busy.collapsed").read_text(), "java")
    assert set(busy) == {("java", "Busy.main_[j]", "Busy.spin_[j]", "Busy.mid_[j]", "Busy.leaf_[i]")}
    assert sum(busy.values()) == 149
    devnull = parse_collapsed((FIXTURES / "ap_devnull.collapsed").read_text(), "java")
    write = (
        "java",
        "DevNull.main_[j]",
        "DevNull.gpWrite_[i]",
        "java.io.FileOutputStream.write_[i]",
        "java.io.FileOutputStream.writeBytes_[j]",
        "Java_java_io_FileOutputStream_writeBytes",
        "writeBytes",
        "handleWrite",
        "__GI_write",
        "entry_SYSCALL_64_after_hwframe_[k]",
        "do_syscall_64_[k]",
    )
    assert any(stack[: len(write)] == write for stack in devnull)
    assert not any(frame.endswith(("_[0]", "_[1]")) for stack in devnull for frame in stack)


def test_java_detection_and_app_id() -> None:
    assert runtime_from_exe("/usr/lib/jvm/java-17-openjdk-amd64/bin/java") == JAVA
    assert runtime_from_maps(["/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so"]) == JAVA
    app = application_id(
        JAVA, "/usr/bin/java", ["java", "-Xmx1g", "-cp", "/app/lib/*", "com.shop.Main", "--port", "1"], "/"
    )
    assert app == "java: com.shop.Main"
    assert (
        application_id(JAVA, "/usr/bin/java", ["java", "-jar", "/srv/app.jar"], "/") == "java: /srv/app.jar"
    )
    assert (
        application_id(JAVA, "/usr/bin/java", ["java", "-m", "shop/com.shop.Main"], "/")
        == "java: shop/com.shop.Main"
    )


def test_jdk_tools_are_named_by_the_tool_not_by_the_launchers_rule() -> None:
    javac = "/usr/lib/jvm/java-17-openjdk-amd64/bin/javac"
    assert application_id(JAVA, javac, ["javac", "-d", "/tmp/classes", "Busy.java"], "/") == "java: javac"
    assert application_id(JAVA, "/usr/bin/jshell", ["jshell"], "/") == "java: jshell"
    java = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"
    assert application_id(JAVA, java, ["java", "-cp", "/app", "Main"], "/") == "java: Main"


def test_recording_files_of_dead_agents_are_removed_and_nothing_else(tmp_path: Path) -> None:
    stale = ["gprofiler-111-222-1.jfr", "gprofiler-111-222.jfc", "gprofiler-111-222-3.collapsed"]
    kept = [
        "gprofiler-999-222-1.jfr",
        "gprofiler-111.jfr",
        "other-111-222-1.jfr",
        "gprofiler-111-2-1.jfr.x",
    ]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
    (tmp_path / "gprofiler-111-5-1.jfr").mkdir()  # not a regular file
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "gprofiler-111-6-1.jfr").symlink_to(target)  # a link is left alone, never followed
    assert remove_stale_outputs(tmp_path, own_pid=999) == 3
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [*kept, "gprofiler-111-5-1.jfr", "gprofiler-111-6-1.jfr", "elsewhere"]
    )
    assert target.read_text() == "keep"
    assert remove_stale_outputs(tmp_path / "missing", own_pid=999) == 0
