import io
import sys
from pathlib import Path

import pytest

from gprofiler.discovery.elf import go_version_from_buildinfo, inspect_go_binary, read_sections
from gprofiler.discovery.runtimes import (
    NODEJS,
    PHP,
    PYTHON,
    RUBY,
    php_version_in,
    python_major_minor,
    python_version_in,
    ruby_version_in,
    runtime_from_exe,
    runtime_from_maps,
)


@pytest.mark.parametrize(
    ("exe", "runtime"),
    [
        ("/usr/bin/python3.11", PYTHON),
        ("/usr/local/bin/python3", PYTHON),
        ("/opt/venv/bin/python", PYTHON),
        ("/usr/bin/python3.12d", PYTHON),
        ("/usr/bin/node", NODEJS),
        ("/usr/bin/nodejs", NODEJS),
        ("/opt/scripts/python-backup.sh", None),
        ("/usr/bin/pypy3", None),
        ("/usr/bin/bash", None),
        ("/usr/bin/python3-config", None),
        ("/usr/bin/ruby3.1", RUBY),
        ("/usr/local/bin/ruby", RUBY),
        ("/usr/bin/php8.2", PHP),
        ("/usr/sbin/php-fpm8.2", PHP),
        ("/usr/local/sbin/php-fpm", PHP),
        ("/usr/bin/php-cgi", PHP),
        ("/usr/bin/phpunit", None),
        ("/usr/bin/ruby-build", None),
    ],
)
def test_runtime_from_exe(exe: str, runtime: str | None) -> None:
    assert runtime_from_exe(exe) == runtime


def test_python_version_is_read_from_the_running_binary() -> None:
    with open(sys.executable, "rb") as binary:
        found = python_version_in(binary, python_major_minor(Path(sys.executable).resolve().name))
    expected = ".".join(map(str, sys.version_info[:3]))
    # a venv's python may be a symlink to a binary without the version in its name
    assert found in (expected, None)


def test_version_scan_sees_matches_across_read_windows() -> None:
    blob = b"\0" * ((1 << 20) - 3) + b"x3.11.9\0" + b"\0" * 100
    assert python_version_in(io.BytesIO(blob), "3.11") == "3.11.9"
    assert python_version_in(io.BytesIO(b"a3.11.1\0b3.2.0\0"), "3.11") == "3.11.1"
    assert python_version_in(io.BytesIO(b"a3.11.1\0b3.11.2\0"), "3.11") is None  # ambiguous


def test_elf_sections_of_this_interpreter() -> None:
    with open("/proc/self/exe", "rb") as exe:
        sections = read_sections(exe)
        assert sections is not None and ".text" in sections
        assert inspect_go_binary(exe) is None
    assert read_sections(io.BytesIO(b"#!/bin/sh\n" + b"\0" * 100)) is None


def test_go_buildinfo_inline_version() -> None:
    # the layout Go >= 1.18 writes: 14-byte magic, pointer size, flags (2 = inline strings),
    # padding to 32 bytes, then varint-prefixed version and module info
    data = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16 + bytes([8]) + b"go1.19.8" + bytes([0])
    assert go_version_from_buildinfo(data) == "go1.19.8"
    assert go_version_from_buildinfo(data[:14] + bytes([8, 0]) + data[16:]) is None  # pre-1.18 layout
    assert go_version_from_buildinfo(b"not buildinfo") is None


def test_runtime_libraries_in_maps() -> None:
    assert runtime_from_maps(["/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1.2"]) == RUBY
    assert runtime_from_maps(["/usr/lib/apache2/modules/libphp8.2.so"]) == PHP
    assert runtime_from_maps(["/usr/lib/libphp.so"]) == PHP
    assert runtime_from_maps(["/usr/lib/php/20220829/opcache.so"]) is None


def test_php_and_ruby_versions_from_their_binaries() -> None:
    php = io.BytesIO(b"\0" * 5000 + b"X-Powered-By: PHP/8.2.36\0" + b"\0" * 10)
    assert php_version_in(php) == "8.2.36"
    assert php_version_in(io.BytesIO(b"X-Powered-By: PHP/8.2.1\0X-Powered-By: PHP/8.3.0\0")) is None
    ruby = b"ruby 3.1.2p20 (2022-04-12 revision 4491bb740a) [x86_64-linux-gnu]\0"
    assert ruby_version_in(io.BytesIO(b"x" * 100 + ruby)) == "3.1.2"
    assert (
        ruby_version_in(io.BytesIO(b"ruby 3.4.1 (2024-12-25 revision 48d4efcb85) +PRISM [x86_64-linux]"))
        == "3.4.1"
    )
