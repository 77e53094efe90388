"""JFR's binary format: primitive encodings, chunk headers, metadata and constant pools.

Chunk layout (68-byte header, magic `FLR\\0`), metadata (type 0) and constant-pool (type 1) events
are described in `stacks.jfr`; this module decodes them generically, driven by the metadata, so
any event or constant type can be read or skipped.
"""

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"FLR\0"
HEADER_SIZE = 68
METADATA_EVENT = 0
CHECKPOINT_EVENT = 1
_COMPRESSED_INTEGERS = 1

_VARINT_TYPES = frozenset({"int", "long", "short", "char"})
_BYTE_TYPES = frozenset({"byte", "boolean"})
_HEADER = struct.Struct(">4sHHqqqqqqqi")


class JfrFormatError(Exception):
    """The data is not a JFR recording this reader understands."""


@dataclass(frozen=True)
class FieldDef:
    name: str
    type_id: int
    constant_pool: bool
    array: bool


@dataclass
class TypeDef:
    id: int
    name: str
    fields: list[FieldDef] = field(default_factory=list)


# A constant-pool reference (type id, key) is kept as a plain tuple: values never contain other
# tuples (arrays are lists), and tuples are the cheapest thing to build millions of times.
Ref = tuple[int, int]
Reader = Callable[["ByteReader"], Any]


class ByteReader:
    """Cursor over a chunk's bytes, with JFR's primitive encodings."""

    __slots__ = ("data", "pos", "strings")

    def __init__(self, data: bytes | memoryview, pos: int = 0, strings: dict[int, str] | None = None) -> None:
        self.data = data
        self.pos = pos
        self.strings: dict[int, str] = strings if strings is not None else {}

    def varint(self) -> int:
        data, pos = self.data, self.pos
        result = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            if shift == 56:  # the 9th byte carries 8 bits
                result |= byte << 56
                break
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        self.pos = pos
        return result

    def count(self) -> int:
        """A length or element count; never more than the bytes left (corrupt data cannot loop long)."""
        value = self.varint()
        if value > len(self.data) - self.pos:
            raise JfrFormatError(f"count {value} at byte {self.pos} exceeds the data left")
        return value

    def signed_varint(self) -> int:
        value = self.varint()
        return value - (1 << 64) if value >= 1 << 63 else value

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def fixed(self, fmt: str, size: int) -> Any:
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def string(self, strings: dict[int, str]) -> str | None:
        encoding = self.byte()
        if encoding == 0:
            return None
        if encoding == 1:
            return ""
        if encoding == 2:
            return strings.get(self.varint(), "")
        if encoding in (3, 5):
            length = self.count()
            raw = bytes(self.data[self.pos : self.pos + length])
            self.pos += length
            return raw.decode("utf-8" if encoding == 3 else "latin-1", "replace")
        if encoding == 4:  # chars as varints: the JDK's metadata strings, nearly always ASCII
            length = self.count()
            chars = bytes(self.data[self.pos : self.pos + length])
            if chars.isascii():  # every char fits one varint byte
                self.pos += length
                return chars.decode("ascii")
            return "".join(chr(self.varint() & 0x10FFFF) for _ in range(length))
        raise JfrFormatError(f"unknown string encoding {encoding} at byte {self.pos - 1}")


def _read_element(reader: ByteReader, strings: list[str]) -> tuple[str, dict[str, str], list[Any]]:
    name = strings[reader.varint()]
    attributes = {strings[reader.varint()]: strings[reader.varint()] for _ in range(reader.count())}
    children = [_read_element(reader, strings) for _ in range(reader.count())]
    return name, attributes, children


_METADATA_CACHE: dict[bytes, "Metadata"] = {}
_METADATA_CACHE_SIZE = 16


def cached_metadata(data: memoryview, offset: int) -> "Metadata":
    """Metadata of a chunk; identical metadata (same JVM, every cycle) is parsed once. The event's
    start time, duration and id differ in every recording, so the key is what follows them."""
    reader = ByteReader(data, offset)
    size = reader.count()
    if reader.varint() != METADATA_EVENT:
        raise JfrFormatError(f"no metadata event at byte {offset}")
    for _ in range(3):  # start time, duration, metadata id
        reader.varint()
    raw = bytes(data[reader.pos : offset + size])
    metadata = _METADATA_CACHE.get(raw)
    if metadata is None:
        metadata = Metadata(_parse_metadata(reader))
        if len(_METADATA_CACHE) >= _METADATA_CACHE_SIZE:
            _METADATA_CACHE.pop(next(iter(_METADATA_CACHE)))
        _METADATA_CACHE[raw] = metadata
    return metadata


def _parse_metadata(reader: ByteReader) -> dict[int, TypeDef]:
    """The metadata event body after its header: string table, then an element tree whose `class`
    nodes are types."""
    strings = [reader.string({}) or "" for _ in range(reader.count())]
    _, _, roots = _read_element(reader, strings)
    types: dict[int, TypeDef] = {}
    pending = list(roots)
    while pending:
        name, attributes, children = pending.pop()
        if name == "class":
            type_def = TypeDef(int(attributes["id"]), attributes["name"])
            for child_name, child_attributes, _ in children:
                if child_name == "field":
                    type_def.fields.append(
                        FieldDef(
                            child_attributes["name"],
                            int(child_attributes["class"]),
                            child_attributes.get("constantPool") == "true",
                            child_attributes.get("dimension") == "1",
                        )
                    )
            types[type_def.id] = type_def
        else:
            pending.extend(children)
    return types


class Metadata:
    """A chunk's types, with a value reader compiled once per type (metadata is cached, so per JVM)."""

    def __init__(self, types: dict[int, TypeDef]) -> None:
        self.types = types
        self.names = {t.name: t.id for t in types.values()}
        self._readers: dict[int, Reader] = {}

    def reader(self, type_id: int) -> Reader:
        compiled = self._readers.get(type_id)
        if compiled is None:
            self._readers[type_id] = _unreadable  # a type containing itself inline is malformed
            compiled = self._readers[type_id] = self._compile(type_id)
        return compiled

    def _compile(self, type_id: int) -> Reader:
        type_def = self.types.get(type_id)
        if type_def is None:
            raise JfrFormatError(f"value of undeclared type {type_id}")
        primitive = _PRIMITIVE_READERS.get(type_def.name)
        if primitive is not None:
            return primitive
        names = tuple(f.name for f in type_def.fields)
        readers = tuple(self.field_reader(f) for f in type_def.fields)

        def composite(reader: ByteReader) -> dict[str, Any]:
            return {name: read(reader) for name, read in zip(names, readers, strict=True)}

        return composite

    def field_reader(self, field_def: FieldDef) -> Reader:
        single: Reader
        if field_def.constant_pool:
            type_id = field_def.type_id

            def reference(reader: ByteReader) -> Any:
                return (type_id, reader.varint())

            single = reference
        else:
            single = self.reader(field_def.type_id)
        if not field_def.array:
            return single

        def array(reader: ByteReader) -> list[Any]:
            return [single(reader) for _ in range(reader.count())]

        return array


def _unreadable(reader: ByteReader) -> Any:
    raise JfrFormatError("a type that contains itself")


_PRIMITIVE_READERS: dict[str, Reader] = {
    **dict.fromkeys(_VARINT_TYPES, ByteReader.signed_varint),
    **dict.fromkeys(_BYTE_TYPES, ByteReader.byte),
    "float": lambda reader: reader.fixed(">f", 4),
    "double": lambda reader: reader.fixed(">d", 8),
    "java.lang.String": lambda reader: reader.string(reader.strings),
}


def read_pools(data: memoryview, start: int, metadata: Metadata) -> dict[int, dict[int, Any]]:
    """Every constant-pool event of a chunk, following the backward `delta` chain."""
    string_type = metadata.names.get("java.lang.String", -1)
    strings: dict[int, str] = {}
    pools: dict[int, dict[int, Any]] = {}
    offset, seen = start, set()
    while offset and offset not in seen:
        seen.add(offset)
        reader = ByteReader(data, offset, strings)
        reader.varint()  # size
        if reader.varint() != CHECKPOINT_EVENT:
            raise JfrFormatError(f"no constant pool event at byte {offset}")
        reader.varint()  # start time
        reader.varint()  # duration
        delta = reader.signed_varint()
        reader.varint()  # checkpoint kind (flush, ...)
        for _ in range(reader.count()):
            type_id = reader.varint()
            pool = pools.setdefault(type_id, {})
            read = metadata.reader(type_id)
            for _ in range(reader.count()):
                key = reader.varint()
                pool[key] = read(reader)
                if type_id == string_type:
                    strings[key] = pool[key]
        offset = offset + delta if delta else 0
    return pools


def chunk_header(data: memoryview, offset: int) -> tuple[int, int, int, int]:
    if len(data) - offset < HEADER_SIZE:
        raise JfrFormatError(f"truncated chunk header at byte {offset}")
    magic, major, _minor, size, cp_offset, meta_offset, *_, features = _HEADER.unpack_from(data, offset)
    if magic != MAGIC:
        raise JfrFormatError(f"not a JFR chunk at byte {offset} (magic {bytes(magic)!r})")
    if major != 2:
        raise JfrFormatError(f"unsupported JFR version {major} (only 2.x)")
    if not features & _COMPRESSED_INTEGERS:
        raise JfrFormatError("chunk without compressed integers (pre-JDK 11 format) is not supported")
    if size < HEADER_SIZE or offset + size > len(data) or not cp_offset or not meta_offset:
        raise JfrFormatError(f"incomplete chunk at byte {offset} (recording still being written?)")
    return size, cp_offset, meta_offset, features
