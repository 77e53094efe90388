"""Value parsers for command-line options; each raises argparse.ArgumentTypeError with a clear text."""

import argparse
import re


def positive_integer(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def non_negative_integer(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def pid_list(text: str) -> list[int]:
    """`1,2, 3` -> [1, 2, 3]; used with action="extend" so --pids may be repeated."""
    pids = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isascii() or not part.isdigit() or int(part) <= 0:
            raise argparse.ArgumentTypeError(f"{part!r} is not a process ID")
        pids.append(int(part))
    if not pids:
        raise argparse.ArgumentTypeError("expected a comma-separated list of process IDs")
    return pids


def name_list(text: str) -> list[str]:
    """`web-1, api` -> ["web-1", "api"] (container names); used with action="extend"."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of container names")
    for name in names:
        if not name.isprintable() or len(name) > 253:
            raise argparse.ArgumentTypeError(f"{name!r} is not a container name")
    return names


def regular_expression(text: str) -> str:
    """A value that must compile as a Python regular expression (kept as text)."""
    try:
        re.compile(text)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular expression: {error}") from None
    return text
