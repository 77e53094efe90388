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


_ET_DYN = 3
_PT_LOAD = 1
_SHT_DYNSYM = 11
_MAX_SYMBOL_TABLE = 32 << 20


@dataclass(frozen=True)
class ElfSymbols:
    """Some symbols of a 64-bit little-endian ELF file, and how to place them in a process:
    a shared object or PIE (`relocatable`) is loaded at (start of its offset-0 mapping) - `base_vaddr`."""

    values: dict[str, int]
    relocatable: bool
    base_vaddr: int

    def address(self, name: str, mapping_start: int) -> int | None:
        """Where a symbol is in a process that maps this file's offset 0 at `mapping_start`."""
        value = self.values.get(name)
        if value is None:
            return None
        return mapping_start - self.base_vaddr + value if self.relocatable else value


def read_symbols(file: BinaryIO, wanted: set[str]) -> ElfSymbols | None:
    """The dynamic symbols named in `wanted` (what a process exports: CPython's `_PyRuntime`,
    PHP's `executor_globals`); None if the file is not a 64-bit little-endian ELF."""
    try:
        return _read_symbols(file, wanted)
    except (OverflowError, ValueError, struct.error):
        return None


def _read_symbols(file: BinaryIO, wanted: set[str]) -> ElfSymbols | None:
    file.seek(0)
    header = file.read(64)
    if len(header) < 64 or header[:4] != _ELF_MAGIC or header[4] != 2 or header[5] != 1:
        return None
    e_type, phoff, shoff, phentsize, phnum, shentsize, shnum = struct.unpack_from("<H14xQQ6xHHHH", header, 16)
    if phnum > _MAX_SECTIONS or shnum > _MAX_SECTIONS or phentsize < 56 or shentsize < 64:
        return None
    file.seek(phoff)
    programs = file.read(phnum * phentsize)
    base_vaddr = 0
    for index in range(len(programs) // phentsize):
        p_type, _, p_offset, p_vaddr = struct.unpack_from("<IIQQ", programs, index * phentsize)
        if p_type == _PT_LOAD and p_offset == 0:
            base_vaddr = p_vaddr
            break
    file.seek(shoff)
    table = file.read(shnum * shentsize)
    count = len(table) // shentsize
    sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(count)]
    values: dict[str, int] = {}
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != _SHT_DYNSYM or link >= len(sections) or entsize < 24 or size > _MAX_SYMBOL_TABLE:
            continue
        strings_header = sections[link]
        if strings_header[5] > _MAX_SYMBOL_TABLE:
            continue
        file.seek(offset)
        symbols = file.read(size)
        file.seek(strings_header[4])
        strings = file.read(strings_header[5])
        encoded = {name.encode(): name for name in wanted}
        for position in range(0, len(symbols) - entsize + 1, entsize):
            name_offset, _, _, _, value = struct.unpack_from("<IBBHQ", symbols, position)
            end = strings.find(b"\0", name_offset)
            name = encoded.get(strings[name_offset:end] if end >= 0 else b"")
            if name is not None and value:
                values[name] = value
    return ElfSymbols(values, e_type == _ET_DYN, base_vaddr)
