"""Process cost read straight from /proc: resident memory, CPU time, and process trees."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def rss_mib(pid: int) -> float:
    """VmRSS in MiB; 0.0 once the process is gone."""
    try:
        lines = (PROC / str(pid) / "status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (its own, not its children's)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    # The command name may hold spaces or parentheses: fields start after the last ")".
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot: with the pid, an identity that
    a recycled pid cannot fake. None once the process is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def command_line(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``, breadth first."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    frontier = [pid]
    while frontier:
        below = sorted(child for parent in frontier for child in children.get(parent, []))
        found.extend(below)
        frontier = below
    return found


@dataclass(frozen=True)
class CpuWindow:
    """CPU used by one process between two readings, as a share of one core."""

    pid: int
    start_cpu: float
    start_wall: float

    @classmethod
    def open(cls, pid: int, wall: float) -> CpuWindow:
        return cls(pid, cpu_seconds(pid), wall)

    def cores(self, wall: float) -> float:
        elapsed = wall - self.start_wall
        return (cpu_seconds(self.pid) - self.start_cpu) / elapsed if elapsed > 0 else 0.0
