"""Which language runtime a process runs, from its executable and mapped files (never its cmdline).

A bash script called `python-backup.sh` is not Python; a C++ server that embeds libpython is.
"""

import os
import re
from collections.abc import Iterable
from typing import BinaryIO

PYTHON = "python"
NODEJS = "nodejs"
GO = "go"
JAVA = "java"
RUBY = "ruby"
PHP = "php"

_PYTHON_EXE = re.compile(r"^python(\d+(\.\d+)?)?[dm]?$")
_LIBPYTHON = re.compile(r"/libpython\d+\.\d+[a-z]*\.so(\.[\d.]+)?$")
_NODE_EXE = re.compile(r"^node(js)?(\d+)?$")
_LIBNODE = re.compile(r"/libnode\.so(\.[\d.]+)?$")
_LIBJVM = re.compile(r"/libjvm\.so$")
_RUBY_EXE = re.compile(r"^ruby(\d+(\.\d+)*)?$")
_LIBRUBY = re.compile(r"/libruby(-\d+\.\d+)?\.so(\.[\d.]+)?$")
# php, php8.2, php-fpm, php-fpm8.2, php-cgi8.2 (php-fpm workers rename themselves, not their exe)
_PHP_EXE = re.compile(r"^php(-fpm|-cgi)?(\d+(\.\d+)?)?$")
_LIBPHP = re.compile(r"/libphp(\d+(\.\d+)?)?\.so$")

# PY_VERSION, NUL-terminated, as CPython embeds it ("3.11.2\0"). The "not preceded by a digit or a
# dot" condition is checked per match in Python: as a lookbehind it would slow the scan tenfold.
_PY_VERSION = re.compile(rb"((?:2\.7|3\.\d{1,2})\.\d{1,2})\x00")
# process.release.sourceUrl is compiled into node: ".../download/release/v20.20.2/node-v20.20.2.tar.gz"
_NODE_VERSION = re.compile(rb"/download/release/(v\d+\.\d+\.\d+)/node-v\d+\.\d+\.\d+\.tar")
# PHP's SAPI header, compiled into php, php-fpm and libphp: "X-Powered-By: PHP/8.2.36"
_PHP_VERSION = re.compile(rb"X-Powered-By: PHP/(\d+\.\d+\.\d+)")
# ruby's description string in libruby (or a static ruby): "ruby 3.1.2p20 (2022-04-12 revision ...)"
_RUBY_VERSION = re.compile(rb"ruby (\d+\.\d+\.\d+)(?:p\d+)? \(\d{4}-\d\d-\d\d")
_SCAN_CHUNK = 1 << 20
_SCAN_OVERLAP = 256
_SCAN_MAX_CHUNKS = 512  # 512 MB: node is ~100 MB, libpython ~25 MB; nothing larger is scanned


def runtime_from_exe(exe: str) -> str | None:
    """The runtime told by the executable's name alone, if it tells."""
    name = os.path.basename(exe)
    if name.startswith("pypy"):
        return None  # py-spy reads CPython's memory layout only
    if _PYTHON_EXE.match(name):
        return PYTHON
    if _NODE_EXE.match(name):
        return NODEJS
    if name == "java":
        return JAVA
    if _RUBY_EXE.match(name):
        return RUBY
    if _PHP_EXE.match(name):
        return PHP
    return None


def runtime_from_maps(mapped_paths: Iterable[str]) -> str | None:
    """The runtime told by a mapped shared library (an embedded interpreter)."""
    for path in mapped_paths:
        if _LIBPYTHON.search(path):
            return PYTHON
        if _LIBNODE.search(path):
            return NODEJS
        if _LIBJVM.search(path):
            return JAVA  # a JVM embedded in a launcher (Tomcat's jsvc, IDEs, ...)
        if _LIBRUBY.search(path):
            return RUBY
        if _LIBPHP.search(path):
            return PHP  # mod_php in Apache, an embedding SAPI
    return None


def runtime_library(runtime: str, mapped_paths: Iterable[str]) -> str | None:
    """The mapped shared library that holds a runtime (libruby, libphp), if it is one."""
    pattern = {RUBY: _LIBRUBY, PHP: _LIBPHP}.get(runtime)
    return next((path for path in mapped_paths if pattern.search(path)), None) if pattern else None


def libpython_path(mapped_paths: Iterable[str]) -> str | None:
    return next((path for path in mapped_paths if _LIBPYTHON.search(path)), None)


def _scan(file: BinaryIO, pattern: re.Pattern[bytes], standalone: bool = False) -> list[bytes]:
    """All matches (group 1) of `pattern` in a large file, read in 1 MB windows, never all at once.

    `standalone` drops matches glued to a preceding digit or dot ("13.11.2" is not "3.11.2").
    """
    found: list[bytes] = []
    tail = b""
    for _ in range(_SCAN_MAX_CHUNKS):
        chunk = file.read(_SCAN_CHUNK)
        if not chunk:
            return found
        window = tail + chunk
        for match in pattern.finditer(window):
            if match.end() <= len(tail):
                continue  # already seen in the previous window
            if standalone and match.start() > 0 and window[match.start() - 1] in b"0123456789.":
                continue
            found.append(match.group(1))
        tail = window[-_SCAN_OVERLAP:]
    return found  # a file larger than any runtime's binary: what its start holds


_MAJOR_MINOR = re.compile(r"(\d+\.\d+)")


def python_major_minor(name: str) -> str | None:
    """ "3.11" from `python3.11` or `libpython3.11.so.1.0`."""
    match = _MAJOR_MINOR.search(os.path.basename(name))
    return match.group(1) if match else None


def python_version_in(file: BinaryIO, major_minor: str | None) -> str | None:
    """CPython's version string from its binary or libpython; None unless exactly one candidate.

    Binaries hold other version-like strings too (e.g. "3.2.0"), so candidates are narrowed to the
    major.minor the file's name announces when it does.
    """
    versions = {version.decode() for version in _scan(file, _PY_VERSION, standalone=True)}
    if major_minor:
        versions = {version for version in versions if version.startswith(major_minor + ".")}
    return versions.pop() if len(versions) == 1 else None


def node_version_in(file: BinaryIO) -> str | None:
    versions = set(_scan(file, _NODE_VERSION))
    return versions.pop().decode() if len(versions) == 1 else None


def php_version_in(file: BinaryIO) -> str | None:
    versions = set(_scan(file, _PHP_VERSION))
    return versions.pop().decode() if len(versions) == 1 else None


def ruby_version_in(file: BinaryIO) -> str | None:
    versions = set(_scan(file, _RUBY_VERSION))
    return versions.pop().decode() if len(versions) == 1 else None
