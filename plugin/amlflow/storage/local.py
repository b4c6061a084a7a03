"""A datastore that is a folder on this machine: the embedded default, and AML's well-known names."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from amlflow.storage import leases
from amlflow.storage.base import DatastoreBackend, FileInfo, OutputStaging
from amlflow.storage.manifest import Manifest, sha256_file

STAGING_FOLDER = ".amlflow-staging"
STAGING_PREFIX = "out-"


class LocalBackend(DatastoreBackend):
    """Files under ``root``. Steps on the same machine read them in place, with no copy."""

    kind = "local"

    def __init__(self, name: str, root: str) -> None:
        super().__init__(name)
        self.root = os.path.abspath(root)

    def _full(self, path: str) -> str:
        """The file of ``path``, refused if it resolves (``..``, a symbolic link) to anywhere outside the root."""
        full = os.path.normpath(os.path.join(self.root, path.strip("/")))
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(full)
        if not (_inside(full, self.root) and _inside(real, real_root)):
            raise ValueError(f"datastore {self.name!r}: path {path!r} leaves the datastore")
        return full

    def uri(self, path: str) -> str:
        """``file://`` and the file's absolute path."""
        return "file://" + self._full(path)

    def local_path(self, path: str) -> str | None:
        """The file itself: a step reads a local datastore in place."""
        return self._full(path)

    def list_files(self, prefix: str) -> list[FileInfo]:
        """Every file at or under ``prefix`` (never the staging folder), with its size and SHA-256."""
        full = self._full(prefix)
        if os.path.isfile(full):
            return [self._info(full)]
        found = []
        for root, dirs, names in os.walk(full):
            dirs[:] = [d for d in dirs if d != STAGING_FOLDER]
            found.extend(self._info(os.path.join(root, n)) for n in names)
        return sorted(found, key=lambda f: f.path)

    def _info(self, full: str) -> FileInfo:
        rel = os.path.relpath(full, self.root).replace(os.sep, "/")
        return FileInfo(rel, os.path.getsize(full), sha256_file(full))

    def read_bytes(self, path: str) -> bytes:
        """The whole file."""
        with open(self._full(path), "rb") as handle:
            return handle.read()

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to a file in the staging folder, then rename it into place: readers see old or new."""
        full = self._full(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd, tmp = self._temporary_file()
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, full)

    def _temporary_file(self) -> tuple[int, str]:
        """A new file in the staging folder: on the datastore's file system (so it can be renamed or linked
        into place), and never listed, so a concurrent listing never meets a file being written."""
        staging = os.path.join(self.root, STAGING_FOLDER)
        os.makedirs(staging, exist_ok=True)
        return tempfile.mkstemp(dir=staging, prefix=".tmp-")

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create ``path`` holding ``data`` unless it exists; whether this call created it."""
        # Written whole under a temporary name, then hard-linked into place: link() fails if the name is
        # taken, so exactly one writer wins and no reader sees a partial file.
        full = self._full(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd, tmp = self._temporary_file()
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.link(tmp, full)
            return True
        except FileExistsError:
            return False
        finally:
            os.remove(tmp)

    def upload_file(self, local_path: str, path: str) -> None:
        """Copy ``local_path`` into the staging folder, then rename it into place."""
        full = self._full(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd, tmp = self._temporary_file()
        os.close(fd)
        shutil.copyfile(local_path, tmp)
        os.replace(tmp, full)

    def download_file(self, path: str, local_path: str) -> None:
        """Copy the file to ``local_path``."""
        os.makedirs(os.path.dirname(local_path) or ".", exist_ok=True)
        shutil.copyfile(self._full(path), local_path)

    def delete(self, path: str) -> None:
        """Remove the file, if there is one."""
        full = self._full(path)
        if os.path.isfile(full):
            os.remove(full)

    def stage_output(self, path: str) -> OutputStaging:
        """A leased folder in the staging folder, renamed into place at commit."""
        lease = leases.take(os.path.join(self.root, STAGING_FOLDER), STAGING_PREFIX, {"output": path})
        return _LocalStaging(self, path, lease)

    def remove_orphaned_staging(self) -> list[dict[str, Any]]:
        """Remove the staging folders whose leases' owners are gone (killed tries)."""
        return leases.sweep(os.path.join(self.root, STAGING_FOLDER), STAGING_PREFIX)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _LocalStaging(OutputStaging):
    """Written in a leased staging folder of the same datastore, then moved into place with one rename."""

    backend: LocalBackend

    def __init__(self, backend: LocalBackend, path: str, lease: leases.Lease) -> None:
        super().__init__(backend, path, lease.path)
        self._lease = lease

    def commit(self) -> Manifest:
        manifest = Manifest.of_folder(self.local_dir)
        final = self.backend._full(self.path)
        # An earlier try may have committed or half-moved this output: un-commit it before replacing.
        self.backend.delete(Manifest.path_for(self.path))
        if os.path.exists(final):
            shutil.rmtree(final)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.rename(self.local_dir, final)
        self._lease.release(remove=False)
        self.backend.write_manifest(self.path, manifest)
        return manifest

    def abort(self) -> None:
        self._lease.release()
