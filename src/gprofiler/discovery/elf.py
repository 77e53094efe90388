"""Just enough ELF: section names, one section's bytes, and Go's build information.

Used on /proc/PID/exe (the kernel's handle on the exact binary a process runs, in whatever mount
namespace), so nothing here follows paths from the target's filesystem.
"""

import struct
from dataclasses import dataclass
from typing import BinaryIO

_ELF_MAGIC = b"\x7fELF"
_GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"
_GO_FLAG_INLINE_STRINGS = 0x2
_MAX_SECTIONS = 4096
_MAX_BUILDINFO = 1 << 20


@dataclass(frozen=True)
class Section:
    name: str
    offset: int
    size: int


def read_sections(file: BinaryIO) -> dict[str, Section] | None:
    """Section table by name; None if the file is not a readable ELF."""
    try:
        return _read_sections(file)
    except (OverflowError, ValueError):  # offsets past what a file can hold: not a real ELF
        return None


def _read_sections(file: BinaryIO) -> dict[str, Section] | None:
    file.seek(0)
    ident = file.read(64)
    if len(ident) < 64 or ident[:4] != _ELF_MAGIC or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        return None
    is64, endian = ident[4] == 2, "<" if ident[5] == 1 else ">"
    if is64:
        shoff, shentsize, shnum, shstrndx = struct.unpack(endian + "40xQ10xHHH", ident[:64])
        entry = struct.Struct(endian + "IIQQQQIIQQ")
    else:
        shoff, shentsize, shnum, shstrndx = struct.unpack(endian + "32xI10xHHH", ident[:52])
        entry = struct.Struct(endian + "IIIIIIIIII")
    if not shoff or shnum == 0 or shnum > _MAX_SECTIONS or shentsize < entry.size or shstrndx >= shnum:
        return None
    file.seek(shoff)
    table = file.read(shnum * shentsize)
    if len(table) < shnum * shentsize:
        return None
    headers = [entry.unpack_from(table, i * shentsize) for i in range(shnum)]
    # (name, type, flags, addr, offset, size, ...) in both layouts
    names_header = headers[shstrndx]
    file.seek(names_header[4])
    names = file.read(min(names_header[5], _MAX_BUILDINFO))
    sections = {}
    for header in headers:
        end = names.find(b"\0", header[0])
        name = names[header[0] : end if end >= 0 else None].decode("ascii", "replace")
        sections[name] = Section(name, header[4], header[5])
    return sections


def read_section(file: BinaryIO, section: Section, limit: int = _MAX_BUILDINFO) -> bytes:
    try:
        file.seek(section.offset)
    except (OverflowError, ValueError):
        return b""
    return file.read(min(section.size, limit))


def _uvarint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while offset < len(data):
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
    raise ValueError("truncated varint")


def go_version_from_buildinfo(data: bytes) -> str | None:
    """The Go version in a `.go.buildinfo` section (Go >= 1.18 layout); None if unknown."""
    if not data.startswith(_GO_BUILDINFO_MAGIC) or len(data) < 32:
        return None
    if not data[15] & _GO_FLAG_INLINE_STRINGS:
        return None  # Go < 1.18 stores pointers to strings; not worth resolving here
    try:
        length, start = _uvarint(data, 32)
    except ValueError:
        return None
    version = data[start : start + length]
    return version.decode("ascii", "replace") if version.startswith(b"go") else None


@dataclass(frozen=True)
class GoBinary:
    version: str | None
    stripped: bool  # no .symtab: perf shows its frames as [unknown] (the binary's path)


def inspect_go_binary(file: BinaryIO) -> GoBinary | None:
    """Go facts about an executable, or None if it is not a Go program."""
    sections = read_sections(file)
    if sections is None or ".go.buildinfo" not in sections:
        return None
    version = go_version_from_buildinfo(read_section(file, sections[".go.buildinfo"]))
    return GoBinary(version=version, stripped=".symtab" not in sections)
