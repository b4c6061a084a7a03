"""Source snapshots: a step runs from a stored copy of its source directory, never from the DAG folder.

What is in a snapshot (as Azure ML): every file of ``source_directory`` except those matched by the
ignore file at its root, ``.amlignore`` or, where there is none, ``.gitignore`` (gitwildmatch patterns).
amlflow also always leaves out ``__pycache__/``, ``*.pyc`` and ``.git/``: the interpreter rewrites them,
and they would make every run look changed. A file over 300 MB fails the step, as in Azure ML.

The folder is copied first and hashed from the copy, so the hash (the step's code fingerprint) is exactly
the code that runs. A snapshot is kept:

- once per content hash in the default datastore, ``amlflow-snapshots/<hash>/`` (files, then manifest);
- in a local cache folder, ``<[amlflow] snapshot_cache_dir>/<hash>``; each step try runs in its own copy
  of it, so a script that writes into its working directory changes no later run.

The first step of a pipeline run that snapshots a folder records the hash under the run
(``amlflow/<dag>/<run>/amlflow-artifacts/snapshots/<key>.json``); the other steps of that run with the
same source directory, and retries, run from that snapshot, so editing the DAG folder during a run
changes nothing in it. A new run takes a new snapshot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from typing import Any

from amlflow import config
from amlflow.exceptions import StepFailedError
from amlflow.storage import DatastoreBackend, get_backend, leases
from amlflow.storage.base import join
from amlflow.storage.location import run_artifact_path, snapshot_path
from amlflow.storage.manifest import Manifest

log = logging.getLogger(__name__)

IGNORE_FILES = (".amlignore", ".gitignore")
ALWAYS_IGNORED = ("__pycache__/", "*.pyc", ".git/")
MAX_FILE_BYTES = 300 * 1024 * 1024  # Azure ML's SNAPSHOT_MAX_SIZE_BYTES
#: Cache copies being made: leased folders, so a killed task's half copy is removed by a later one.
STAGING_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Snapshot:
    """A source directory's content hash and its read-only local copy."""

    content_hash: str
    cache_dir: str

    def checkout(self, dest: str) -> str:
        """A private, writable copy for one step try."""
        shutil.copytree(self.cache_dir, dest)
        return dest

    def contains(self, relative_path: str) -> bool:
        """Whether the snapshot holds the file ``relative_path``."""
        return os.path.isfile(os.path.join(self.cache_dir, relative_path))


def ignore_spec(source_directory: str):
    """The folder's ignore rules: ``.amlignore``, else ``.gitignore``, plus what amlflow always leaves out."""
    import pathspec

    lines = list(ALWAYS_IGNORED)
    for name in IGNORE_FILES:
        path = os.path.join(source_directory, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                lines.extend(handle.read().splitlines())
            break
    return pathspec.GitIgnoreSpec.from_lines(lines)


def source_files(source_directory: str) -> list[str]:
    """Relative paths (``/``-separated, sorted) of the files a snapshot of the folder holds."""
    spec = ignore_spec(source_directory)
    found = []
    for root, dirs, names in os.walk(source_directory):
        rel_root = os.path.relpath(root, source_directory).replace(os.sep, "/")
        prefix = "" if rel_root == "." else rel_root + "/"
        dirs[:] = sorted(d for d in dirs if not spec.match_file(prefix + d + "/"))
        found.extend(prefix + n for n in names if not spec.match_file(prefix + n))
    return sorted(found)


def snapshot_for_run(source_directory: str, dag_id: str, run_id: str, step: str) -> Snapshot:
    """The snapshot this run uses for ``source_directory``: the one the run recorded, else a new one."""
    backend = get_backend(config.get("default_datastore"))
    key = hashlib.sha256(os.path.abspath(source_directory).encode()).hexdigest()[:16]
    record = run_artifact_path(dag_id, run_id, f"snapshots/{key}.json")
    if backend.exists(record):
        content_hash = json.loads(backend.read_bytes(record))["content_hash"]
        log.info("Source snapshot %s (taken earlier in this run) of %s", content_hash, source_directory)
        return Snapshot(content_hash, cached_snapshot(backend, content_hash, step))
    snapshot, manifest = _copy_to_cache(source_directory, step)
    _store(backend, snapshot, manifest)
    body = {"content_hash": snapshot.content_hash, "source_directory": os.path.abspath(source_directory)}
    backend.write_bytes(record, json.dumps(body).encode())
    log.info(
        "Source snapshot %s of %s: %d files, stored at %s",
        snapshot.content_hash,
        source_directory,
        len(manifest.files),
        backend.uri(snapshot_path(snapshot.content_hash)),
    )
    return snapshot


def cache_root() -> str:
    """The snapshot cache folder (``[amlflow] snapshot_cache_dir``, default under ``AIRFLOW_HOME``), made if missing."""
    root = config.get("snapshot_cache_dir")
    root = (
        os.path.abspath(os.path.expanduser(root)) if root else os.path.join(config.airflow_home(), "cache", "snapshots")
    )
    os.makedirs(root, exist_ok=True)
    return root


def _copy_to_cache(source_directory: str, step: str) -> tuple[Snapshot, Manifest]:
    if not os.path.isdir(source_directory):
        raise StepFailedError(f"step {step!r}, field 'source_directory': folder not found at {source_directory}")
    root = cache_root()
    with leases.take(root, STAGING_PREFIX, {"snapshot_of": source_directory}) as lease:
        staging = lease.path
        for rel in source_files(source_directory):
            src = os.path.join(source_directory, rel)
            if os.path.getsize(src) > MAX_FILE_BYTES:
                raise StepFailedError(
                    f"step {step!r}, field 'source_directory': {src} is larger than 300 MB; "
                    "list it in .amlignore or keep data in a datastore"
                )
            dest = os.path.join(staging, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(src, dest)
        manifest = Manifest.of_folder(staging)
        final = os.path.join(root, manifest.fingerprint)
        _publish(staging, final)
    return Snapshot(manifest.fingerprint, final), manifest


def _publish(staging: str, final: str) -> None:
    """Move a complete copy into the cache with one rename; an equal copy already there wins."""
    try:
        os.rename(staging, final)
    except OSError:
        if not os.path.isdir(final):
            raise


def _store(backend: DatastoreBackend, snapshot: Snapshot, manifest: Manifest) -> None:
    """Upload once per hash: files, then the manifest. Concurrent uploads write the same bytes."""
    path = snapshot_path(snapshot.content_hash)
    stored = backend.read_manifest(path)
    if stored is not None and stored.fingerprint == snapshot.content_hash:
        return
    for entry in manifest.files:
        backend.upload_file(os.path.join(snapshot.cache_dir, entry["path"]), join(path, entry["path"]))
    backend.write_manifest(path, manifest)


def cached_snapshot(backend: DatastoreBackend, content_hash: str, step: str) -> str:
    """The local copy of a stored snapshot, downloaded into the cache if this machine has none.

    ``step`` names who needs it, in the error raised when the snapshot is missing.
    """
    final = os.path.join(cache_root(), content_hash)
    if os.path.isdir(final):
        return final
    path = snapshot_path(content_hash)
    manifest = backend.read_manifest(path)
    if manifest is None or manifest.fingerprint != content_hash:
        raise StepFailedError(f"step {step!r}: source snapshot {backend.uri(path)} of this run is missing")
    with leases.take(cache_root(), STAGING_PREFIX, {"snapshot": content_hash}) as lease:
        for entry in manifest.files:
            backend.download_file(join(path, entry["path"]), os.path.join(lease.path, entry["path"]))
        _publish(lease.path, final)
    return final


def remove_orphaned_copies() -> list[dict[str, Any]]:
    """Remove half-made cache copies that killed tasks left (never a published, complete one)."""
    return leases.sweep(cache_root(), STAGING_PREFIX)
