"""Outputs that a remote service writes in place (an ADLA job, a server-side copy), not a local script.

They cannot be staged locally and renamed, so the commit marker does all the work: before the service
starts, whatever an earlier try left at the output path is un-committed (manifest first) and removed;
after it succeeds, the files found there are listed (sizes and content tags, no bytes read) and the
manifest written last. Until then no step reads the output, exactly as with ``StagedOutputs``.
"""

from __future__ import annotations

import logging
from typing import Any

from amlflow import config
from amlflow.storage import get_backend
from amlflow.storage.base import DatastoreBackend
from amlflow.storage.location import DataLocation, output_path
from amlflow.storage.manifest import Manifest

log = logging.getLogger(__name__)


def clear_output(backend: DatastoreBackend, path: str) -> None:
    """Un-commit ``path`` (manifest first, so no reader sees a half-deleted output), then delete its files."""
    backend.delete(Manifest.path_for(path))
    removed = backend.delete_prefix(path)
    if removed:
        log.info("Output %s: removed %d files an earlier try left", backend.uri(path), removed)


def commit_written_output(backend: DatastoreBackend, path: str) -> DataLocation:
    """Write the manifest of what the service left at ``path``; return the output's XCom location."""
    files = backend.list_files(path)
    manifest = Manifest.of_stored(path, ((f.path, f.size, f.tag) for f in files))
    if not manifest.files:
        log.warning("Output %s: the job wrote no files; committing it empty", backend.uri(path))
    backend.write_manifest(path, manifest)
    location = DataLocation(
        backend.name, path, backend.uri(path), manifest.fingerprint, manifest.total_size, len(manifest.files)
    )
    log.info("Output committed: %d files, %d bytes at %s", len(manifest.files), manifest.total_size, location.uri)
    return location


def output_place(ti: Any, spec: dict[str, Any]) -> tuple[DatastoreBackend, str]:
    """Where the service writes an output of this step run: its datastore and run-scoped path."""
    backend = get_backend(spec.get("datastore") or config.get("default_datastore"))
    return backend, output_path(ti.dag_id, ti.run_id, ti.task_id, spec["name"])


def commit_written_outputs(ti: Any, specs: list[dict[str, Any]]) -> dict[str, DataLocation]:
    """Commit every output the service wrote for this step run, by name."""
    return {spec["name"]: commit_written_output(*output_place(ti, spec)) for spec in specs}
