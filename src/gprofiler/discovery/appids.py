"""Application identifiers: which app a process serves, from its command line (gProfiler's formats).

Pure functions over (exe, cmdline, cwd); the result becomes an `appid: ...` frame after the
process name, so the same service is recognisable across hosts and restarts.
"""

import os
import posixpath
import re
from collections.abc import Sequence

from gprofiler.discovery.runtimes import JAVA, NODEJS, PHP, PYTHON, RUBY

_GUNICORN_TITLE = re.compile(r"^gunicorn: (?:master|worker) \[([^\]]*)\]$")
_PYTHON_BIN = re.compile(r"^python(\d+(\.\d+)?)?$")
_NODE_OPTIONS_WITH_VALUE = frozenset(
    {"-r", "--require", "--import", "--loader", "--experimental-loader", "--env-file", "--conditions", "-C"}
)


def _arg(args: Sequence[str], index: int) -> str:
    return args[index] if 0 <= index < len(args) else ""


def _option(args: Sequence[str], *names: str) -> str | None:
    """The value of `-x VALUE` or `--name=VALUE`."""
    for index, arg in enumerate(args):
        if arg in names and index + 1 < len(args):
            return args[index + 1]
        key, sep, value = arg.partition("=")
        if sep and key in names:
            return value
    return None


def _in_cwd(cwd: str | None, path: str) -> str:
    return posixpath.normpath(posixpath.join(cwd or "/", path))


def _module_path(cwd: str | None, module: str) -> str:
    """`pkg.mod` -> `<cwd>/pkg/mod.py`, as gProfiler shows where an app lives."""
    if not module.endswith(".py"):
        module = module.replace(".", "/") + ".py"
    return _in_cwd(cwd, module)


def _named(args: Sequence[str], name: str) -> bool:
    """`name ...` or `python /path/to/name ...` or `python -m name ...`."""
    first, second = os.path.basename(_arg(args, 0)), os.path.basename(_arg(args, 1))
    return first == name or second == name or (_arg(args, 1) == "-m" and _arg(args, 2) == name)


def _gunicorn(args: Sequence[str], cwd: str | None) -> str | None:
    spec = None
    if len([arg for arg in args if arg]) == 1:
        title = _GUNICORN_TITLE.match(args[0])
        spec = title.group(1) if title else None
    if spec is None and _named(args, "gunicorn") and len(args) > 1:
        spec = args[-1]  # the WSGI app comes last unless it is in a config file
    if not spec or spec.startswith("-"):
        return None
    return f"gunicorn: {spec} ({_module_path(cwd, spec.split(':', 1)[0])})"


def _uvicorn(args: Sequence[str], cwd: str | None) -> str | None:
    if not _named(args, "uvicorn"):
        return None
    start = 3 if _arg(args, 1) == "-m" else (2 if os.path.basename(_arg(args, 1)) == "uvicorn" else 1)
    positional = [arg for arg in args[start:] if not arg.startswith("-") and ":" in arg]
    if not positional:
        return None
    spec = positional[0]
    return f"uvicorn: {spec} ({_module_path(cwd, spec.split(':', 1)[0])})"


def _uwsgi(exe: str, args: Sequence[str], cwd: str | None) -> str | None:
    if os.path.basename(exe) != "uwsgi" and os.path.basename(_arg(args, 0)) != "uwsgi":
        return None
    module = _option(args, "-w", "--wsgi-file", "--module", "--wsgi")
    if module:
        return f"uwsgi: {module} ({_module_path(cwd, module)})"
    ini = _option(args, "--ini", "--ini-paste")
    return f"uwsgi: {ini}" if ini else "uwsgi"


def _celery(args: Sequence[str], cwd: str | None) -> str | None:
    if not _named(args, "celery"):
        return None
    app = _option(args, "-A", "--app")
    return f"celery: {app} ({_module_path(cwd, app)})" if app else None


def _python(args: Sequence[str], cwd: str | None) -> str | None:
    if not _PYTHON_BIN.match(os.path.basename(_arg(args, 0))):
        return None
    module = _option(args[1:], "-m")
    if module:
        return f"python: -m {module}"
    script = _arg(args, 1)
    if script.endswith(".py"):
        return f"python: {script} ({_in_cwd(cwd, script)})"
    return None


def _node(args: Sequence[str], cwd: str | None) -> str | None:
    index = 1
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in _NODE_OPTIONS_WITH_VALUE else 1
    script = _arg(args, index)
    if not script:
        return None
    return f"node: {script} ({_in_cwd(cwd, script)})"


# java launcher options followed by a separate value
_JAVA_OPTIONS_WITH_VALUE = frozenset(
    {
        "-cp",
        "-classpath",
        "--class-path",
        "-p",
        "--module-path",
        "--upgrade-module-path",
        "--add-modules",
        "--add-opens",
        "--add-exports",
        "--add-reads",
        "--patch-module",
        "--limit-modules",
        "--source",
    }
)


def _java(args: Sequence[str]) -> str | None:
    """`java: <main class>` or `java: <jar>`, as the launcher would pick them."""
    index = 1
    while index < len(args):
        arg = args[index]
        if arg in ("-jar", "-m", "--module") and index + 1 < len(args):
            return f"java: {args[index + 1]}"
        if arg in _JAVA_OPTIONS_WITH_VALUE:
            index += 2
            continue
        if not arg.startswith("-"):
            return f"java: {arg}"
        index += 1
    return None


# Ruby servers rename themselves (setproctitle): one argument holding the title.
_PUMA_TITLE = re.compile(r"^puma(?: [\d.]+)? \(([^)]*)\)(?: \[([^\]]*)\])?")
_PUMA_WORKER = re.compile(r"^puma: cluster worker \d+: \d+(?: \[([^\]]*)\])?")
_SIDEKIQ_TITLE = re.compile(r"^sidekiq [\d.]+ ?(\S*) \[\d+ of \d+ busy\]")
_UNICORN_TITLE = re.compile(r"^(unicorn(?:_rails)?) (?:master|worker\[\d+\])(.*)$")
_RUBY_BIN = re.compile(r"^ruby(\d+(\.\d+)*)?$")
_PHP_FPM_TITLE = re.compile(r"^php-fpm: (pool \S+|master process)")
_PHP_BIN = re.compile(r"^php(\d+(\.\d+)?)?$")


def _title(args: Sequence[str]) -> str:
    """A renamed process's title: its one non-empty argument, padding removed."""
    present = [arg.strip() for arg in args if arg.strip()]
    return present[0] if len(present) == 1 else ""


def _ruby(args: Sequence[str], cwd: str | None) -> str | None:
    """puma, unicorn, sidekiq (by their titles), rails, rackup, then a plain `ruby script.rb`."""
    title = _title(args)
    if match := _PUMA_TITLE.match(title):
        return f"puma: {match.group(2) or _in_cwd(cwd, '.')} ({match.group(1)})"
    if match := _PUMA_WORKER.match(title):
        return f"puma: {match.group(1) or _in_cwd(cwd, '.')}"
    if match := _SIDEKIQ_TITLE.match(title):
        return f"sidekiq: {match.group(1) or _in_cwd(cwd, '.')}"
    if match := _UNICORN_TITLE.match(title):
        config = _option(match.group(2).split(), "-c", "--config-file")
        return f"{match.group(1)}: {_in_cwd(cwd, config) if config else _in_cwd(cwd, '.')}"
    for server in ("puma", "unicorn", "sidekiq", "rails", "rackup"):
        if _named(args, server):
            positional = [arg for arg in args[2:] if arg.endswith(".ru")]
            where = positional[0] if positional else "."
            return f"{server}: {_in_cwd(cwd, where)}"
    if _RUBY_BIN.match(os.path.basename(_arg(args, 0))):
        script = _script(args, _RUBY_OPTIONS_WITH_VALUE, code="-e")
        if script and (script.endswith(".rb") or "/" in script):
            return f"ruby: {script} ({_in_cwd(cwd, script)})"
    return None


_RUBY_OPTIONS_WITH_VALUE = frozenset({"-I", "-r", "-C", "-E", "--encoding"})
_PHP_OPTIONS_WITH_VALUE = frozenset({"-d", "-c", "-z", "-t", "-S", "-B", "-R", "-F", "-E"})


def _script(args: Sequence[str], with_value: frozenset[str], code: str, file_option: str = "") -> str | None:
    """The script an interpreter runs: its first argument that is not an option (or an option's
    value, or `file_option`'s value); None when it runs code given by `code` (`ruby -e`)."""
    index = 1
    while index < len(args):
        arg = args[index]
        if arg == code:
            return None
        if file_option and arg == file_option:
            return _arg(args, index + 1) or None
        if arg in with_value:
            index += 2
        elif arg.startswith("-"):
            index += 1
        else:
            return arg
    return None


def _php(args: Sequence[str], cwd: str | None) -> str | None:
    """`php-fpm: pool NAME` for php-fpm's workers, `php: script.php (path)` for the command line."""
    if match := _PHP_FPM_TITLE.match(_title(args)):
        return "php-fpm: master" if match.group(1) == "master process" else f"php-fpm: {match.group(1)}"
    if _PHP_BIN.match(os.path.basename(_arg(args, 0))):
        script = _script(args, _PHP_OPTIONS_WITH_VALUE, code="-r", file_option="-f")
        if script:
            return f"php: {script} ({_in_cwd(cwd, script)})"
    return None


def application_id(runtime: str | None, exe: str, args: Sequence[str], cwd: str | None) -> str | None:
    """The app a process serves, or None; the first matching rule wins, as in gProfiler."""
    if runtime == PYTHON:
        return (
            _gunicorn(args, cwd)
            or _uvicorn(args, cwd)
            or _uwsgi(exe, args, cwd)
            or _celery(args, cwd)
            or _python(args, cwd)
        )
    if runtime == NODEJS:
        return _node(args, cwd)
    if runtime == RUBY:
        return _ruby(args, cwd)
    if runtime == PHP:
        return _php(args, cwd)
    if runtime == JAVA:
        # The `java` launcher's rule; a JDK tool (javac, jshell, jar...) or a program embedding the
        # JVM is named by its executable: `javac -d DIR ...` is not an app called DIR.
        tool = exe.rsplit("/", 1)[-1]
        return _java(args) if tool == "java" else f"java: {tool}" if tool else None
    return None
