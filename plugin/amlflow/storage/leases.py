"""Leased folders: scratch space that a later try can tell from space still in use, and remove.

A step try writes staged outputs, downloaded inputs and its working copy into folders nobody else may
touch while it runs, and that nobody removes if the task is killed with SIGKILL (no ``finally`` runs).
Each such folder ``<parent>/<name>/`` has a lease file beside it, ``<parent>/<name>.lease``, on which
the owning process holds an exclusive ``flock`` for as long as it uses the folder. The kernel drops the
lock when that process dies, however it dies; so :func:`sweep` can remove exactly the folders whose
owner is gone, and never one still in use (also across processes and machines sharing an NFS folder:
Linux maps ``flock`` to NFS locks). The lease file holds a short JSON description of the owner (which
step try), so the sweep can say what it removed.

The lock file is opened close-on-exec: a step's script (a child process) never holds the lease, so a
script that outlives its task can not keep its folder alive.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import tempfile
import uuid
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".lease"


def work_root() -> str:
    """Where this worker's step tries keep leased scratch folders (under ``TMPDIR``)."""
    return os.path.join(tempfile.gettempdir(), "amlflow-work")


class Lease:
    """A folder this process owns: use ``path``; ``release()`` removes it and gives up the lease."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def __repr__(self) -> str:
        return f"Lease({self.path!r})"

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self, remove: bool = True) -> None:
        """Remove the folder (unless ``remove=False``: it was moved away, e.g. committed) and the lease."""
        if self._fd is None:
            return
        if remove:
            shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path + SUFFIX)
        os.close(self._fd)
        self._fd = None


def take(parent: str, prefix: str, owner: dict[str, Any] | None = None) -> Lease:
    """A new, empty folder ``<parent>/<prefix><random>`` leased by this process.

    ``owner`` (e.g. dag, run, task and try) is written into the lease file for :func:`sweep` to report.
    """
    os.makedirs(parent, exist_ok=True)
    description = json.dumps({**(owner or {}), "pid": os.getpid(), "host": os.uname().nodename}).encode()
    while True:
        path = os.path.join(parent, f"{prefix}{uuid.uuid4().hex[:16]}")
        fd = os.open(path + SUFFIX, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _still_linked(path + SUFFIX, fd):
            break
        # A sweep took the new lease file for an orphan between its creation and our lock: start over.
        os.close(fd)
    os.write(fd, description)
    os.mkdir(path)
    return Lease(path, fd)


def _still_linked(lease_path: str, fd: int) -> bool:
    try:
        return os.stat(lease_path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def sweep(parent: str, prefix: str) -> list[dict[str, Any]]:
    """Remove every ``<prefix>*`` folder under ``parent`` whose owner died; return their owners' descriptions.

    A folder without a lease file is left by an interrupted removal (the lease is created before the
    folder and removed after it) and is removed too.
    """
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    removed = []
    leases = {name[: -len(SUFFIX)] for name in names if name.startswith(prefix) and name.endswith(SUFFIX)}
    for name in sorted(leases):
        owner = _remove_if_orphaned(os.path.join(parent, name))
        if owner is not None:
            removed.append(owner)
    for name in names:
        path = os.path.join(parent, name)
        if name.startswith(prefix) and name not in leases and not name.endswith(SUFFIX) and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append({"folder": path})
    return removed


def _remove_if_orphaned(path: str) -> dict[str, Any] | None:
    try:
        fd = os.open(path + SUFFIX, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:  # released meanwhile
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None  # in use
            raise
        if not _still_linked(path + SUFFIX, fd):
            return None  # another sweep removed it first
        owner = _read_owner(fd)
        shutil.rmtree(path, ignore_errors=True)
        os.unlink(path + SUFFIX)
        return {**owner, "folder": path}
    finally:
        os.close(fd)


def _read_owner(fd: int) -> dict[str, Any]:
    try:
        text = os.pread(fd, 4096, 0)
        owner = json.loads(text) if text else {}
    except ValueError:
        owner = {}
    return owner if isinstance(owner, dict) else {}
