"""``DatastoreDagBundle``: a DAG bundle kept in a datastore (Azure Blob), for machines that share no disk.

In the shape of the amazon provider's S3 bundle and the google provider's GCS bundle (the azure
provider ships none): the files live under ``prefix`` in ``datastore``, and each machine keeps a copy
in the bundle's local folder, brought up to date by ``refresh()`` (the dag-processor) and
``initialize()`` (a worker, at task start). A copy takes only what changed: files whose content tag
differs from the one recorded locally, and each snapshot a definition names that this machine lacks
(snapshots never change: they are named by their content hash).

Configured in ``[dag_processor] dag_bundle_config_list``::

    {"name": "amlflow-pipelines", "classpath": "amlflow.bundles.datastore_bundle.DatastoreDagBundle",
     "kwargs": {"datastore": "workspaceblobstore", "prefix": "amlflow-bundle"}}

The datastore is a name resolved as every datastore is (its Airflow connection); the snapshots are
those in ``amlflow-snapshots/<hash>/`` of the same datastore, where the api-server stores them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from airflow.dag_processing.bundles.base import BaseDagBundle

from amlflow.bundles import layout
from amlflow.storage import get_backend

#: Where a local copy records the content tag of each file it holds.
TAGS_FILE = ".amlflow-bundle-tags.json"


class DatastoreDagBundle(BaseDagBundle):
    """Pipelines from notebooks, from a datastore; see the module docstring."""

    supports_versioning = False

    def __init__(self, *, datastore: str = "workspaceblobstore", prefix: str = "amlflow-bundle", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.datastore = datastore
        self.prefix = prefix.strip("/")

    @property
    def path(self) -> Path:
        """The local folder the bundle's files are copied to."""
        return Path(self.base_dir)

    def get_current_version(self) -> None:
        """None: the bundle is not versioned, so Airflow always reads the latest copy."""
        return None

    def initialize(self) -> None:
        """Copy the datastore's files once before Airflow's initialization."""
        self.refresh()
        super().initialize()

    def refresh(self) -> None:
        """Copy changed files and missing snapshots from the datastore, under the bundle's lock."""
        with self.lock():
            self._copy_changed_files()
            self._copy_missing_snapshots()

    def _copy_changed_files(self) -> None:
        backend = get_backend(self.datastore)
        root = self.path
        root.mkdir(parents=True, exist_ok=True)
        tags_path = root / TAGS_FILE
        held: dict[str, str] = json.loads(tags_path.read_text()) if tags_path.exists() else {}
        remote = {info.path[len(self.prefix) :].lstrip("/"): info for info in backend.list_files(self.prefix)}
        for relative, info in sorted(remote.items()):
            if held.get(relative) == info.tag and (root / relative).exists():
                continue
            local = root / relative
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_name(local.name + ".part")
            backend.download_file(info.path, str(partial))
            os.replace(partial, local)
            held[relative] = info.tag
        for relative in sorted(set(held) - set(remote)):  # removed from the bundle
            (root / relative).unlink(missing_ok=True)
            del held[relative]
        tags_path.write_text(json.dumps(held, sort_keys=True))

    def _copy_missing_snapshots(self) -> None:
        from amlflow.runtime.snapshot import cached_snapshot

        backend = get_backend(self.datastore)
        wanted = set()
        for definition in (self.path / layout.DEFINITIONS).glob("*.yaml"):
            wanted.update(layout.SNAPSHOT_REFERENCE_IN_TEXT.findall(definition.read_text(encoding="utf-8")))
        for content_hash in sorted(wanted):
            final = self.path / layout.snapshot_path(content_hash)
            if not final.exists():
                shutil.copytree(cached_snapshot(backend, content_hash, f"bundle {self.name!r}"), final)
