"""``Datastore``: a named place where pipeline data lives, as in Azure ML.

Constructing one is free (a name and a workspace); the backend behind the name is resolved only when
data moves (``upload_files``, ``upload``, ``download``), so a DAG file that declares datastores never
touches the network or the metadata database.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from amlflow.storage.base import join

if TYPE_CHECKING:
    from amlflow.core.workspace import Workspace
    from amlflow.data.data_reference import DataReference
    from amlflow.storage.base import DatastoreBackend

log = logging.getLogger(__name__)


class Datastore:
    """A datastore by name. ``Datastore(ws)`` is the workspace default, as in Azure ML."""

    def __init__(self, workspace: Workspace, name: str | None = None) -> None:
        self.workspace = workspace
        self.name = name or workspace.default_datastore_name

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Datastore) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Datastore:
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        return workspace.get_default_datastore()

    def set_as_default(self) -> None:
        self.workspace.set_default_datastore(self.name)

    @property
    def backend(self) -> DatastoreBackend:
        from amlflow.storage import get_backend

        return get_backend(self.name)

    @property
    def datastore_type(self) -> str:
        return {"local": "Local", "azure_blob": "AzureBlob"}.get(self.backend.kind, self.backend.kind)

    # -- data references -----------------------------------------------------------------------
    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        from amlflow.data.data_reference import DataReference

        return DataReference(datastore=self).path(path, data_reference_name)

    def as_mount(self) -> DataReference:
        from amlflow.data.data_reference import DataReference

        return DataReference(datastore=self).as_mount()

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        from amlflow.data.data_reference import DataReference

        return DataReference(datastore=self).as_download(path_on_compute)

    def as_upload(self, path_on_compute: str | None = None) -> DataReference:
        from amlflow.data.data_reference import DataReference

        return DataReference(datastore=self).as_upload(path_on_compute)

    # -- moving data ------------------------------------------------------------------------------
    def upload_files(
        self,
        files: list[str],
        relative_root: str | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Upload ``files``, keeping their paths relative to ``relative_root`` (default: their common folder)."""
        from amlflow.data.data_reference import DataReference

        paths = [os.path.abspath(f) for f in files]
        root = os.path.abspath(relative_root) if relative_root else _common_folder(paths)
        self._upload(((p, join(target_path or "", os.path.relpath(p, root))) for p in paths), overwrite, show_progress)
        return DataReference(datastore=self, path_on_datastore=target_path)

    def upload(
        self,
        src_dir: str,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Upload every file under ``src_dir`` to ``target_path``."""
        from amlflow.data.data_reference import DataReference

        src = os.path.abspath(src_dir)
        pairs = (
            (os.path.join(root, n), join(target_path or "", os.path.relpath(os.path.join(root, n), src)))
            for root, _dirs, names in os.walk(src)
            for n in sorted(names)
        )
        self._upload(pairs, overwrite, show_progress)
        return DataReference(datastore=self, path_on_datastore=target_path)

    def download(
        self, target_path: str, prefix: str | None = None, overwrite: bool = False, show_progress: bool = True
    ) -> int:
        """Download files under ``prefix`` to ``target_path/<their datastore path>``; returns how many."""
        backend = self.backend
        count = 0
        for info in backend.list_files(prefix or ""):
            local = os.path.join(target_path, *info.path.split("/"))
            if os.path.exists(local) and not overwrite:
                log.warning("Datastore %s: %s exists, not overwritten (overwrite=False)", self.name, local)
                continue
            backend.download_file(info.path, local)
            count += 1
            if show_progress:
                log.info("Downloaded %s from datastore %s", info.path, self.name)
        return count

    def _upload(self, pairs, overwrite: bool, show_progress: bool) -> None:
        backend = self.backend
        for local, remote in pairs:
            if not overwrite and backend.exists(remote):
                log.warning("Datastore %s: %s exists, not overwritten (overwrite=False)", self.name, remote)
                continue
            backend.upload_file(local, remote)
            if show_progress:
                log.info("Uploaded %s to datastore %s as %s", local, self.name, remote)


def _common_folder(paths: list[str]) -> str:
    if not paths:
        return os.getcwd()
    common = os.path.commonpath(paths)
    return os.path.dirname(common) if len(paths) == 1 or os.path.isfile(common) else common
