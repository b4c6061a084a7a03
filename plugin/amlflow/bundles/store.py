"""Writing into the pipeline bundle: code snapshots and definitions, each made visible in one step.

The api-server holds one ``PipelineStore`` (``store_for_deployment``), chosen from the bundle that
``[amlflow] pipeline_bundle`` names in ``[dag_processor] dag_bundle_config_list``:

- a ``LocalDagBundle``: ``FolderStore`` writes its folder (a file appears by ``rename``, complete);
- amlflow's ``DatastoreDagBundle``: ``DatastoreStore`` writes the datastore the bundle copies from
  (definitions under the bundle's prefix, snapshots where step snapshots live, ``amlflow-snapshots/``,
  committed by their manifest).

Order makes a pipeline appear whole: snapshots first, then its definition, then its loader file, the
only file the dag-processor looks for.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
from typing import Any

from amlflow import config
from amlflow.bundles import layout
from amlflow.exceptions import UserErrorException
from amlflow.storage import get_backend, leases
from amlflow.storage.base import join
from amlflow.storage.location import snapshot_path
from amlflow.storage.manifest import Manifest

LOCAL_BUNDLE_CLASS = "airflow.dag_processing.bundles.local.LocalDagBundle"
DATASTORE_BUNDLE_CLASS = "amlflow.bundles.datastore_bundle.DatastoreDagBundle"
STAGING_PREFIX = "snapshot-"


class BundleNotConfigured(UserErrorException):
    """The deployment has no bundle for pipelines from notebooks; the message says how to add one."""


class PipelineStore(abc.ABC):
    """The pipeline bundle, as the api-server writes it."""

    def __init__(self, bundle_name: str) -> None:
        self.bundle_name = bundle_name

    @abc.abstractmethod
    def has_snapshot(self, content_hash: str) -> bool:
        """Whether the bundle already holds the snapshot ``content_hash``."""
        ...

    @abc.abstractmethod
    def add_snapshot(self, content_hash: str, folder: str) -> None:
        """Store the checked folder ``folder`` (its files hash to ``content_hash``) as that snapshot."""

    @abc.abstractmethod
    def snapshot_folder(self, content_hash: str) -> str:
        """A folder on this machine that holds the snapshot (to check a definition against its code)."""

    def definition(self, dag_id: str) -> str | None:
        """The text of the pipeline ``dag_id``'s definition, or None if the bundle has none."""
        return self._read(layout.definition_path(dag_id))

    def write_definition(self, dag_id: str, text: str) -> None:
        """Write the definition, then its loader file: the dag-processor sees both or neither."""
        self._write(layout.IGNORE_FILE, layout.IGNORE_TEXT)
        self._write(layout.definition_path(dag_id), text)
        self._write(layout.loader_path(dag_id), layout.loader_text(dag_id))

    def remove_definition(self, dag_id: str) -> None:
        """Remove the loader file, then the definition (a definition no run could start from)."""
        for relative in (layout.loader_path(dag_id), layout.definition_path(dag_id)):
            self._delete(relative)

    def write_schedule(self, dag_id: str, text: str) -> None:
        """Write (or rewrite) a schedule's definition, then its loader file."""
        self._write(layout.IGNORE_FILE, layout.IGNORE_TEXT)
        self._write(layout.schedule_path(dag_id), text)
        self._write(layout.loader_path(dag_id), layout.schedule_loader_text(dag_id))

    def remove_schedule(self, dag_id: str) -> None:
        """Remove a schedule's loader file, then its definition."""
        for relative in (layout.loader_path(dag_id), layout.schedule_path(dag_id)):
            self._delete(relative)

    @abc.abstractmethod
    def _read(self, relative: str) -> str | None:
        """The text of the bundle's file ``relative``, or None."""

    @abc.abstractmethod
    def _write(self, relative: str, text: str) -> None:
        """Write the bundle's file ``relative`` whole: a reader sees the old text or the new."""

    @abc.abstractmethod
    def _delete(self, relative: str) -> None:
        """Delete the bundle's file ``relative``; a missing file is no error."""


class FolderStore(PipelineStore):
    """The folder of a ``LocalDagBundle``, on a disk every component of the deployment sees."""

    def __init__(self, bundle_name: str, root: str) -> None:
        super().__init__(bundle_name)
        self.root = os.path.abspath(root)

    def _path(self, relative: str) -> str:
        return os.path.join(self.root, *relative.split("/"))

    def has_snapshot(self, content_hash: str) -> bool:
        """Whether the snapshot's folder exists."""
        return os.path.isdir(self._path(layout.snapshot_path(content_hash)))

    def add_snapshot(self, content_hash: str, folder: str) -> None:
        """Move the folder into the bundle in one rename."""
        _keep(folder, self._path(layout.snapshot_path(content_hash)))

    def snapshot_folder(self, content_hash: str) -> str:
        """The snapshot's folder in the bundle."""
        return self._path(layout.snapshot_path(content_hash))

    def _read(self, relative: str) -> str | None:
        try:
            with open(self._path(relative), encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def _delete(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(relative))

    def _write(self, relative: str, text: str) -> None:
        path = self._path(relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.tmp-{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)


class DatastoreStore(PipelineStore):
    """The datastore a ``DatastoreDagBundle`` copies from: shared by every machine, no disk shared."""

    def __init__(self, bundle_name: str, datastore: str, prefix: str) -> None:
        super().__init__(bundle_name)
        self.datastore = datastore
        self.prefix = prefix.strip("/")

    @property
    def backend(self) -> Any:
        """The storage backend of the bundle's datastore."""
        return get_backend(self.datastore)

    def has_snapshot(self, content_hash: str) -> bool:
        """Whether the snapshot's manifest is there and hashes to ``content_hash``."""
        manifest = self.backend.read_manifest(snapshot_path(content_hash))
        return manifest is not None and manifest.fingerprint == content_hash

    def add_snapshot(self, content_hash: str, folder: str) -> None:
        """Upload the folder's files, then its manifest (which makes the snapshot visible), and keep a local copy."""
        manifest = Manifest.of_folder(folder)
        base = snapshot_path(content_hash)
        self.backend.upload_many(
            (os.path.join(folder, *entry["path"].split("/")), join(base, entry["path"])) for entry in manifest.files
        )
        self.backend.write_manifest(base, manifest)
        _keep(folder, os.path.join(_snapshot_cache(), content_hash))  # to check definitions against

    def snapshot_folder(self, content_hash: str) -> str:
        """A local cached copy of the snapshot, downloaded if needed."""
        from amlflow.runtime.snapshot import cached_snapshot

        return cached_snapshot(self.backend, content_hash, f"snapshot {content_hash}")

    def _read(self, relative: str) -> str | None:
        path = join(self.prefix, relative)
        return self.backend.read_bytes(path).decode() if self.backend.exists(path) else None

    def _write(self, relative: str, text: str) -> None:
        self.backend.write_bytes(join(self.prefix, relative), text.encode())

    def _delete(self, relative: str) -> None:
        self.backend.delete(join(self.prefix, relative))


def _keep(folder: str, final: str) -> None:
    """Move ``folder`` to ``final`` in one rename; an equal copy already there wins."""
    os.makedirs(os.path.dirname(final), exist_ok=True)
    try:
        os.rename(folder, final)
    except OSError:
        if not os.path.isdir(final):
            raise


def _snapshot_cache() -> str:
    from amlflow.runtime.snapshot import cache_root

    return cache_root()


def bundle_configs() -> list[dict[str, Any]]:
    """``[dag_processor] dag_bundle_config_list`` as a list (Airflow's default: the DAG folder only)."""
    from airflow.configuration import conf

    text = conf.get("dag_processor", "dag_bundle_config_list", fallback="") or "[]"
    try:
        configs = json.loads(text)
    except ValueError as error:
        raise BundleNotConfigured(f"[dag_processor] dag_bundle_config_list is not JSON: {error}") from None
    return configs if isinstance(configs, list) else []


def store_for_deployment() -> PipelineStore:
    """The store of the bundle ``[amlflow] pipeline_bundle``; BundleNotConfigured if there is none to write."""
    name = config.get("pipeline_bundle")
    found = next((c for c in bundle_configs() if isinstance(c, dict) and c.get("name") == name), None)
    if found is None:
        raise BundleNotConfigured(
            f"this deployment has no DAG bundle {name!r} ([amlflow] pipeline_bundle) for pipelines sent from "
            "notebooks: add one to [dag_processor] dag_bundle_config_list, e.g. "
            f'{{"name": "{name}", "classpath": "{LOCAL_BUNDLE_CLASS}", "kwargs": {{"path": "/srv/amlflow/pipelines"}}}}'
            " (README: Submitting and publishing from a notebook)"
        )
    kwargs = found.get("kwargs") or {}
    if found.get("classpath") == LOCAL_BUNDLE_CLASS and kwargs.get("path"):
        return FolderStore(name, kwargs["path"])
    if found.get("classpath") == DATASTORE_BUNDLE_CLASS:
        return DatastoreStore(
            name, kwargs.get("datastore") or config.get("default_datastore"), kwargs.get("prefix") or "amlflow-bundle"
        )
    raise BundleNotConfigured(
        f"DAG bundle {name!r} is a {found.get('classpath')} (kwargs {sorted(kwargs)}): amlflow writes pipelines "
        f"only into a {LOCAL_BUNDLE_CLASS} with a 'path', or a {DATASTORE_BUNDLE_CLASS}"
    )


def staging_folder(store: PipelineStore) -> leases.Lease:
    """A leased folder to unpack a snapshot into, on the same file system as the store's snapshots.

    What an api-server killed while unpacking left behind is removed first.
    """
    parent = os.path.join(store.root if isinstance(store, FolderStore) else _snapshot_cache(), layout.STAGING)
    leases.sweep(parent, STAGING_PREFIX)
    return leases.take(parent, STAGING_PREFIX)
