"""Looking at processes from tests: alive or not, and their parent (from ``/proc``)."""

from __future__ import annotations

import time


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces and parentheses)."""
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has ended)."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def ends_within(pid: int, seconds: float) -> bool:
    """Whether ``pid`` has ended within ``seconds``: a signal is delivered, and a process torn down, a moment
    after ``kill`` returns (its pipes close before it turns zombie)."""
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def parent(pid: int) -> int:
    return int(_stat_fields(pid)[1])
