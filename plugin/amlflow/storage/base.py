"""The one small interface every datastore backend implements, and what is built on it once for all."""

from __future__ import annotations

import abc
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from amlflow.exceptions import DatastoreError
from amlflow.storage import leases
from amlflow.storage.manifest import Manifest

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileInfo:
    """One stored file: its path on the datastore, its size and a content tag (a hash or an ETag)."""

    path: str
    size: int
    tag: str


class PermanentDatastoreError(DatastoreError):
    """A datastore that is not registered, or used as its kind never allows (files of a SQL database, DBFS
    outside a DatabricksStep): the step fails at once, with no retry, since no retry can help."""


def join(*parts: str) -> str:
    """Join datastore path parts with ``/``, dropping empty parts and stray slashes."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class OutputStaging(abc.ABC):
    """A step output being written: a local folder now, committed (files, then manifest) or aborted later."""

    def __init__(self, backend: DatastoreBackend, path: str, local_dir: str) -> None:
        self.backend = backend
        self.path = path
        self.local_dir = local_dir

    @abc.abstractmethod
    def commit(self) -> Manifest:
        """Publish the folder's files at ``path``, then write the manifest that marks them complete."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop whatever was written; nothing becomes visible as an output."""


class UploadStaging(OutputStaging):
    """Written in a leased local scratch folder; committed by uploading its files, then the manifest.

    For backends that stage outside the datastore (Azure Blob, Azure Files): nothing is visible in the
    datastore until the commit, and a commit replaces whatever an earlier try left at the path.
    """

    def __init__(self, backend: DatastoreBackend, path: str, lease: leases.Lease) -> None:
        super().__init__(backend, path, lease.path)
        self._lease = lease

    def commit(self) -> Manifest:
        """Upload the folder over what an earlier try left at ``path`` (its manifest removed first, stale files
        deleted), then write the manifest and release the lease.
        """
        backend = self.backend
        manifest = Manifest.of_folder(self.local_dir)
        # An earlier try may have committed, or half-uploaded, this output: un-commit it first, and drop
        # files of that try the new manifest does not list, so the prefix holds exactly this output.
        backend.delete(Manifest.path_for(self.path))
        keep = {join(self.path, entry["path"]) for entry in manifest.files}
        stale = [info for info in backend.list_files(self.path) if info.path not in keep]
        backend.run_parallel(lambda info: backend.delete(info.path), stale)
        backend.upload_many(
            (os.path.join(self.local_dir, *entry["path"].split("/")), join(self.path, entry["path"]))
            for entry in manifest.files
        )
        backend.write_manifest(self.path, manifest)
        self._lease.release()
        return manifest

    def abort(self) -> None:
        """Release the lease; the scratch folder goes with it."""
        self._lease.release()


class DatastoreBackend(abc.ABC):
    """Files on one datastore, addressed by ``/``-separated paths relative to its root."""

    kind: str = ""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # -- what each backend implements -------------------------------------------------------------
    @abc.abstractmethod
    def uri(self, path: str) -> str:
        """A URI for ``path`` that names the store (``file://``, ``wasbs://``): shown to users, never secret."""

    @abc.abstractmethod
    def list_files(self, prefix: str) -> list[FileInfo]:
        """Every file whose path is ``prefix`` or lies under the folder ``prefix``, sorted by path."""

    @abc.abstractmethod
    def read_bytes(self, path: str) -> bytes:
        """The whole content of the file ``path``."""
        ...

    @abc.abstractmethod
    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole object at once: a reader sees the old content or the new, never a part."""

    @abc.abstractmethod
    def upload_file(self, local_path: str, path: str) -> None:
        """Upload the local file ``local_path`` to ``path``, replacing any file there."""
        ...

    @abc.abstractmethod
    def download_file(self, path: str, local_path: str) -> None:
        """Download the file ``path`` to ``local_path``."""
        ...

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Delete one file; a missing file is not an error."""

    @abc.abstractmethod
    def stage_output(self, path: str) -> OutputStaging:
        """Start writing a step output that will live at folder ``path``."""

    def local_path(self, path: str) -> str | None:
        """A path on this machine where ``path`` can be read in place, or None if it must be copied."""
        return None

    def remove_orphaned_staging(self) -> list[dict[str, Any]]:
        """Remove staging that killed tasks left in this datastore; the owners of what was removed.

        Backends that stage outside the datastore (in the worker's leased scratch folders) have none.
        """
        return []

    # -- built once on top of the above ------------------------------------------------------------
    def run_parallel(self, work: Callable[[T], object], items: Iterable[T]) -> None:
        """Apply ``work`` to every item, ``[amlflow] transfer_concurrency`` at a time; the first error is raised."""
        from amlflow import config

        items = list(items)
        workers = min(max(1, config.get_int("transfer_concurrency")), len(items))
        if workers <= 1:
            for item in items:
                work(item)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix=f"amlflow-{self.name}") as pool:
            for future in [pool.submit(work, item) for item in items]:
                future.result()

    def upload_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Upload (local file, datastore path) pairs, several files at once."""
        self.run_parallel(lambda pair: self.upload_file(*pair), pairs)

    def put_files(self, pairs: Iterable[tuple[str, str]], under: str, overwrite: bool, progress: bool = True) -> int:
        """Upload (local file, datastore path) pairs that all lie under folder ``under``; returns how many.

        With ``overwrite=False`` a path that already exists is kept and skipped with a warning (Azure ML's
        rule for uploads), found with one listing of ``under`` rather than one look-up per file.
        """
        pairs = list(pairs)
        if not overwrite:
            existing = {info.path for info in self.list_files(under)}
            for _local, remote in pairs:
                if remote in existing:
                    log.warning("Datastore %s: %s exists, not overwritten (overwrite=False)", self.name, remote)
            pairs = [(local, remote) for local, remote in pairs if remote not in existing]

        def send(pair: tuple[str, str]) -> None:
            self.upload_file(*pair)
            if progress:
                log.info("Uploaded %s to datastore %s as %s", pair[0], self.name, pair[1])

        self.run_parallel(send, pairs)
        return len(pairs)

    def copy_from(self, source: DatastoreBackend, source_path: str, dest_path: str) -> int:
        """Copy a file or folder from ``source`` (any backend) to ``dest_path`` here; returns how many files.

        This default streams file by file, several at once: uploaded from the source's own file where it
        has one on this machine, downloaded straight into this datastore's file where it has one, else
        through a temporary file. A backend that can copy server-side overrides it.
        """
        base = source_path.strip("/")
        files = source.list_files(base)

        def copy_one(info: FileInfo) -> None:
            rel = info.path[len(base) :].lstrip("/")
            target = join(dest_path, rel) if rel else dest_path.strip("/")
            local = source.local_path(info.path)
            if local is not None:
                self.upload_file(local, target)
                return
            here = self.local_path(target)
            if here is not None:
                source.download_file(info.path, here)
                return
            with leases.take(leases.work_root(), "copy-") as scratch:
                part = os.path.join(scratch.path, "part")
                source.download_file(info.path, part)
                self.upload_file(part, target)

        self.run_parallel(copy_one, files)
        return len(files)

    def exists(self, path: str) -> bool:
        """Whether ``path`` is a file or a folder holding files."""
        return bool(self.list_files(path))

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Write ``path`` only if no file is there; True if this call wrote it.

        Registries use it so two writers cannot both take the same name. This default checks, then
        writes (not atomic); the local and blob backends override it with an atomic create.
        """
        if self.exists(path):
            return False
        self.write_bytes(path, data)
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete every file under ``prefix``; returns how many."""
        files = self.list_files(prefix)
        for info in files:
            self.delete(info.path)
        return len(files)

    def read_manifest(self, path: str) -> Manifest | None:
        """The manifest of the output at ``path``, or None while that output is not committed."""
        manifest_path = Manifest.path_for(path)
        if not self.list_files(manifest_path):
            return None
        return Manifest.from_json(self.read_bytes(manifest_path))

    def write_manifest(self, path: str, manifest: Manifest) -> None:
        """Write the manifest that marks the output at ``path`` committed."""
        self.write_bytes(Manifest.path_for(path), manifest.to_json())

    def materialize(self, path: str, dest_dir: str | None = None) -> str:
        """A local path holding ``path`` (a file or a folder): in place where possible, else downloaded."""
        in_place = self.local_path(path)
        if in_place is not None and dest_dir is None:
            return in_place
        files = self.list_files(path)
        if not files:
            raise FileNotFoundError(f"datastore {self.name!r}: nothing at path {path!r}")
        target = dest_dir or tempfile.mkdtemp(prefix="amlflow-in-")
        single_file = len(files) == 1 and files[0].path == path.strip("/")
        if single_file:
            local = os.path.join(target, os.path.basename(path.rstrip("/")))
            self._fetch(files[0].path, local, in_place)
            return local
        base = path.strip("/")
        pairs = [
            (info.path, os.path.join(target, info.path[len(base) :].lstrip("/") if base else info.path))
            for info in files
        ]
        self.run_parallel(lambda pair: self._fetch(*pair, None), pairs)
        return target

    def _fetch(self, path: str, local: str, in_place: str | None) -> None:
        os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
        if in_place is not None and os.path.isfile(in_place):
            shutil.copyfile(in_place, local)
        else:
            self.download_file(path, local)
