"""Wake a polled directory as soon as something in it changes (Linux inotify, through ctypes).

Polling alone costs a scan interval of latency (20 ms here, more for large directories,
which back off); inotify tells within a millisecond. It only wakes the poll loop: the scan
still decides what changed, so a lost or overflowed event costs at most one poll interval,
never a missed change. Where inotify is unavailable (another OS, no watches left), the
watcher does nothing and polling carries on alone.

The events also tell whether a file is still being written: created or modified, and not
closed since (``settled``). A writer that replaces files whole (writes a temporary, renames
it) or writes and closes leaves nothing open, so the scan can run at once; one caught
between truncating a file and writing it asks the poll loop to wait for quiet.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
from pathlib import Path

import structlog

log = structlog.get_logger("agw.source")

_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_IN_MODIFY = 0x2
_IN_CLOSE_WRITE = 0x8
_IN_MOVED_FROM = 0x40
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_ISDIR = 0x40000000
# Writes, renames, creations, deletions and attribute changes, of files and directories.
_EVENTS = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800
_READ_SIZE = 64 * 1024
# struct inotify_event: wd, mask, cookie, len, then len bytes of NUL-padded name.
_EVENT = struct.Struct("iIII")


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    return libc


class DirectoryWatch:
    """Sets ``changed`` whenever a file or directory below ``directory`` changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.changed = asyncio.Event()
        # (watch, name) of files created or modified and not closed since.
        self.writing: set[tuple[int, bytes]] = set()
        self._fd = -1
        self._libc = _libc()

    @property
    def settled(self) -> bool:
        """No file is known to be half written."""
        return not self.writing

    @property
    def active(self) -> bool:
        return self._fd >= 0

    def start(self) -> None:
        if self._libc is None:
            return
        fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            log.warning("inotify unavailable, polling only", errno=ctypes.get_errno())
            return
        self._fd = fd
        self.watch_tree()
        asyncio.get_running_loop().add_reader(fd, self._drain)

    def watch_tree(self) -> None:
        """Watch every directory below the root; called again after a scan, so directories
        created since are watched too (adding a watch twice is harmless)."""
        if self._libc is None or self._fd < 0:
            return
        for root, dirs, _ in os.walk(self.directory):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            if self._libc.inotify_add_watch(self._fd, os.fsencode(root), _EVENTS) < 0:
                log.warning("cannot watch directory", path=root, errno=ctypes.get_errno())

    def stop(self) -> None:
        if self._fd < 0:
            return
        asyncio.get_running_loop().remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1

    def _drain(self) -> None:
        try:
            while data := os.read(self._fd, _READ_SIZE):
                self._note_writes(data)
        except BlockingIOError:
            pass
        self.changed.set()

    def _note_writes(self, data: bytes) -> None:
        at = 0
        while at + _EVENT.size <= len(data):  # every pass moves past one whole event
            wd, mask, _, size = _EVENT.unpack_from(data, at)
            key = (wd, data[at + _EVENT.size : at + _EVENT.size + size].rstrip(b"\0"))
            at += _EVENT.size + size
            if mask & _IN_ISDIR:
                continue
            if mask & (_IN_CREATE | _IN_MODIFY):
                self.writing.add(key)
            elif mask & (_IN_CLOSE_WRITE | _IN_DELETE | _IN_MOVED_FROM):
                self.writing.discard(key)
