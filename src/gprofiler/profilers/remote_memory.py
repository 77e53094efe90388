"""Reads of another process's memory, for the samplers that read an interpreter in place (Python, PHP).

The target is never stopped: a read can see a frame being pushed or popped, so what is read must be
checked before it is trusted (the readers do that). Reads go through `process_vm_readv`, several
ranges per call (`read_many`), and fall back to `pread` on /proc/PID/mem where the call is refused
(a seccomp profile that allows one and not the other).
"""

import ctypes
import errno
import os
from collections.abc import Sequence
from pathlib import Path

USER_SPACE_END = 1 << 47
PAGE = 4096
MAX_RANGES = 1024  # IOV_MAX


class RemoteReadError(Exception):
    """A read of the target's memory failed or what it read does not hold together."""


class NotRunningError(RemoteReadError):
    """The runtime's library is there, but no interpreter runs in the process (gdb, vim, ...)."""


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


def _libc_readv() -> "ctypes._NamedFuncPointer | None":
    try:
        function = ctypes.CDLL(None, use_errno=True).process_vm_readv
    except (OSError, AttributeError):  # a libc without it
        return None
    function.restype = ctypes.c_ssize_t
    function.argtypes = [
        ctypes.c_int,
        ctypes.POINTER(_IoVec),
        ctypes.c_ulong,
        ctypes.POINTER(_IoVec),
        ctypes.c_ulong,
        ctypes.c_ulong,
    ]
    return function


_PROCESS_VM_READV = _libc_readv()


def _check(address: int, size: int) -> None:
    if not 0 < address < USER_SPACE_END - size or size < 0:
        raise RemoteReadError(f"address {address:#x} is not in user space")


class ProcessMemory:
    """One process's memory: single ranges read with pread on /proc/PID/mem (opened once), several
    ranges at a time with process_vm_readv."""

    def __init__(self, proc_root: Path, pid: int) -> None:
        self.pid = pid
        self.fd = os.open(f"{proc_root}/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        self._readv = _PROCESS_VM_READV
        self.calls = 0  # reads made, for the benchmarks

    def read(self, address: int, size: int) -> bytes:
        _check(address, size)
        self.calls += 1
        try:
            data = os.pread(self.fd, size, address)
        except OSError as error:
            raise RemoteReadError(f"read of {size} bytes at {address:#x}: {error.strerror}") from None
        if len(data) != size:
            raise RemoteReadError(f"short read at {address:#x}")
        return data

    def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """Several (address, size) ranges in one system call; all of them or RemoteReadError."""
        if not ranges:
            return []
        if len(ranges) > MAX_RANGES:
            raise RemoteReadError(f"{len(ranges)} ranges in one read")
        for address, size in ranges:
            _check(address, size)
        if self._readv is None:
            return [self.read(address, size) for address, size in ranges]
        total = sum(size for _, size in ranges)
        buffer = ctypes.create_string_buffer(total)
        local = (_IoVec * len(ranges))()
        remote = (_IoVec * len(ranges))()
        base = ctypes.addressof(buffer)
        offset = 0
        for index, (address, size) in enumerate(ranges):
            local[index].base, local[index].length = base + offset, size
            remote[index].base, remote[index].length = address, size
            offset += size
        self.calls += 1
        done = self._readv(self.pid, local, len(ranges), remote, len(ranges), 0)
        if done < 0:
            code = ctypes.get_errno()
            if code in (errno.EPERM, errno.ENOSYS):  # refused by a seccomp profile: /proc/PID/mem
                self._readv = None
                return [self.read(address, size) for address, size in ranges]
            raise RemoteReadError(f"read of {len(ranges)} ranges: {os.strerror(code)}")
        if done != total:
            raise RemoteReadError(f"short read of {len(ranges)} ranges ({done} of {total} bytes)")
        raw = buffer.raw
        parts, offset = [], 0
        for _, size in ranges:
            parts.append(raw[offset : offset + size])
            offset += size
        return parts

    def read_below(self, end: int, pages: int) -> tuple[int, bytes]:
        """As much as can be read of the `pages` pages that end at `end` (the last one partial), as
        (start address, bytes): an interpreter's stack grows up, so a frame's callers are below it,
        and the pages below the stack's first one may not be mapped. One system call: the pages are
        asked for from the top down, and a read stops at the first page that is not there."""
        _check(end - 1, 1)
        top = (end - 1) & ~(PAGE - 1)
        pieces = [(top, end - top)] + [(top - PAGE * index, PAGE) for index in range(1, pages)]
        pieces = [(address, size) for address, size in pieces if address > 0]
        total = sum(size for _, size in pieces)
        if self._readv is None:
            return self._pread_below(pieces, end)
        buffer = ctypes.create_string_buffer(total)
        local, remote = (_IoVec * len(pieces))(), (_IoVec * len(pieces))()
        base, filled = ctypes.addressof(buffer), total
        for index, (address, size) in enumerate(pieces):
            filled -= size  # the top piece goes last in the buffer, so the bytes come out in address order
            local[index].base, local[index].length = base + filled, size
            remote[index].base, remote[index].length = address, size
        self.calls += 1
        done = self._readv(self.pid, local, len(pieces), remote, len(pieces), 0)
        if done < 0:
            code = ctypes.get_errno()
            if code in (errno.EPERM, errno.ENOSYS):
                self._readv = None
                return self._pread_below(pieces, end)
            raise RemoteReadError(f"read of {total} bytes below {end:#x}: {os.strerror(code)}")
        whole = 0
        for _, size in pieces:  # only whole pieces: a read that stopped inside one is not trusted
            if done < whole + size:
                break
            whole += size
        if not whole:
            raise RemoteReadError(f"nothing readable below {end:#x}")
        return end - whole, buffer.raw[total - whole :]

    def _pread_below(self, pieces: list[tuple[int, int]], end: int) -> tuple[int, bytes]:
        parts: list[bytes] = []
        for address, size in pieces:
            try:
                parts.append(self.read(address, size))
            except RemoteReadError:
                if not parts:
                    raise
                break
        data = b"".join(reversed(parts))
        return end - len(data), data

    def close(self) -> None:
        os.close(self.fd)
