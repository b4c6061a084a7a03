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

    @staticmethod
    def register_azure_blob_container(
        workspace: Workspace,
        datastore_name: str,
        container_name: str,
        account_name: str,
        sas_token: str | None = None,
        account_key: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
        blob_cache_timeout: int | None = None,
        grant_workspace_access: bool = False,
        subscription_id: str | None = None,
        resource_group: str | None = None,
    ) -> Datastore:
        """Declare an Azure Blob container as datastore ``datastore_name``, as Azure ML does.

        In amlflow a datastore is an Airflow connection: this writes the ``wasb`` connection
        ``datastore_name`` (``login`` = account, ``password`` = account key, ``extra`` = container and SAS
        token) to the Airflow metadata database, like ``airflow connections add``. Call it when you deploy
        (a setup script, as the Azure ML docs do), never in a DAG file: parsing must not touch the database,
        and Airflow 3 tasks have no database access. Instead of calling it, the same connection may come
        from any secrets backend or an ``AIRFLOW_CONN_<NAME>`` variable; those win over the database.

        ``protocol`` (default ``https``) and ``endpoint`` (default ``core.windows.net``) make the account
        URL ``<protocol>://<account>.blob.<endpoint>``; an ``endpoint`` that is a whole URL (an emulator or a
        private endpoint, e.g. ``http://127.0.0.1:10000/devstoreaccount1``) is used as the account URL.
        ``overwrite=False`` keeps an existing, different connection and raises; ``True`` replaces it.
        Unless ``skip_validation``, the container is checked with the new credentials (and created first
        when ``create_if_not_exists``). ``blob_cache_timeout``, ``grant_workspace_access``,
        ``subscription_id`` and ``resource_group`` concern the Azure ML service and are accepted and ignored.
        """
        from amlflow.exceptions import UserErrorException
        from amlflow.storage.registry import forget_backends, get_backend

        if not sas_token and not account_key:
            log.info("Datastore %s: no SAS token or account key, the connection will use Azure AD", datastore_name)
        if endpoint and endpoint.startswith(("http://", "https://")):
            host = endpoint.rstrip("/")
        else:
            host = f"{protocol or 'https'}://{account_name}.blob.{endpoint or 'core.windows.net'}"
        extra = {"container_name": container_name}
        if sas_token:
            extra["sas_token"] = sas_token
        _write_connection(datastore_name, host, account_name, account_key, extra, overwrite)
        forget_backends()
        datastore = Datastore(workspace, datastore_name)
        if not skip_validation:
            backend = get_backend(datastore_name)
            if not hasattr(backend, "check_container"):
                raise UserErrorException(
                    f"datastore {datastore_name!r}: an environment variable or secrets backend defines it as "
                    f"{backend.kind!r}, which overrides the connection just written"
                )
            backend.check_container(create=create_if_not_exists)
        return datastore

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
        pairs = [(p, join(target_path or "", os.path.relpath(p, root))) for p in paths]
        self._upload(pairs, target_path, overwrite, show_progress)
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
        self._upload(pairs, target_path, overwrite, show_progress)
        return DataReference(datastore=self, path_on_datastore=target_path)

    def download(
        self, target_path: str, prefix: str | None = None, overwrite: bool = False, show_progress: bool = True
    ) -> int:
        """Download files under ``prefix`` to ``target_path/<their datastore path>``; returns how many."""
        backend = self.backend
        pairs = []
        # Azure ML lists by plain string prefix (not a folder match) and recreates each blob's full path.
        for info in backend.list_files(_folder_of(prefix or "")):
            if not info.path.startswith((prefix or "").lstrip("/")):
                continue
            local = os.path.join(target_path, *info.path.split("/"))
            if os.path.exists(local) and not overwrite:
                log.warning("Datastore %s: %s exists, not overwritten (overwrite=False)", self.name, local)
                continue
            pairs.append((info.path, local))

        def fetch(pair: tuple[str, str]) -> None:
            backend.download_file(*pair)
            if show_progress:
                log.info("Downloaded %s from datastore %s", pair[0], self.name)

        backend.run_parallel(fetch, pairs)
        return len(pairs)

    def _upload(self, pairs, target_path: str | None, overwrite: bool, show_progress: bool) -> None:
        self.backend.put_files(pairs, target_path or "", overwrite, show_progress)


def _folder_of(prefix: str) -> str:
    """The folder a string prefix lies in (``data/tra`` -> ``data``), for a folder listing to filter."""
    return prefix.strip("/").rsplit("/", 1)[0] if "/" in prefix.strip("/") else ""


def _write_connection(
    conn_id: str, host: str, login: str, password: str | None, extra: dict[str, str], overwrite: bool
) -> None:
    """Create or replace Airflow connection ``conn_id`` (type ``wasb``) in the metadata database."""
    import json

    from airflow.models import Connection
    from airflow.utils.session import create_session

    from amlflow.exceptions import UserErrorException

    wanted = Connection(conn_id=conn_id, conn_type="wasb", host=host, login=login, password=password)
    wanted.set_extra(json.dumps(extra))
    with create_session() as session:
        existing = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        if existing is not None:
            same = (existing.conn_type, existing.host, existing.login, existing.password, existing.extra_dejson) == (
                "wasb",
                host,
                login,
                password,
                extra,
            )
            if same:
                return
            if not overwrite:
                raise UserErrorException(
                    f"datastore {conn_id!r} is already registered with other settings; "
                    "pass overwrite=True to replace it"
                )
            session.delete(existing)
            session.flush()
        session.add(wanted)


def _common_folder(paths: list[str]) -> str:
    if not paths:
        return os.getcwd()
    common = os.path.commonpath(paths)
    return os.path.dirname(common) if len(paths) == 1 or os.path.isfile(common) else common
