"""A datastore that is an Azure Files share, through the azure provider's ``AzureFileShareHook``.

The Airflow connection of type ``azure_fileshare`` whose id is the datastore name says where and how
(any authentication the hook supports: account key, SAS token, connection string, Azure AD), plus
``share_name`` in its extra (``Datastore.register_azure_file_share`` writes both). Paths are file paths
relative to the share's root; folders are made as files are written into them (Azure Files needs a
file's parent directories to exist). Calls are retried and messages scrubbed as for blobs
(``amlflow.storage.azure``). A manifest is written under a temporary name and renamed into place, so a
reader sees the old one or the new one, never a part: Azure Files writes a file range by range.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import TYPE_CHECKING, Any

from amlflow.exceptions import DatastoreError
from amlflow.storage.azure import AzureStorageBackend, account_from_url, read_connection
from amlflow.storage.base import FileInfo, join
from amlflow.storage.connections import on_connection

if TYPE_CHECKING:
    from azure.storage.fileshare import ShareClient


class FileShareBackend(AzureStorageBackend):
    """Files in one share."""

    kind = "azure_file"
    client: ShareClient

    def __init__(self, name: str, share: str, account_name: str, client_factory: Any, secrets: Any = ()) -> None:
        super().__init__(name, client_factory, secrets)
        self.share = share
        self.place = f"share {share!r}"
        self.account_name = account_name
        self._lock = threading.Lock()
        self._folders: set[str] = set()

    @classmethod
    def from_connection(cls, name: str, conn: Any) -> FileShareBackend:
        """The backend of datastore ``name`` declared by the Airflow ``azure_fileshare`` connection ``conn``."""
        extra, secrets, conn_string = read_connection(conn)
        share = extra.get("share_name")
        if not share:
            raise DatastoreError(f"datastore {name!r}: its azure_fileshare connection has no 'share_name' in its extra")
        login = conn.login or ""
        account = (
            conn_string.get("accountname")
            or (account_from_url(login) if login.startswith("http") else login)
            or account_from_url(conn_string.get("fileendpoint"))
            or "unknown"
        )

        def make_client() -> ShareClient:
            from airflow.providers.microsoft.azure.hooks.fileshare import AzureFileShareHook

            hook = on_connection(AzureFileShareHook(azure_fileshare_conn_id=name), conn)
            return hook.share_service_client.get_share_client(share)

        return cls(name, share, account, make_client, secrets)

    # -- the interface ----------------------------------------------------------------------------
    def uri(self, path: str) -> str:
        """The file's ``https://`` URL on the share."""
        return f"https://{self.account_name}.file.core.windows.net/{self.share}/{path.strip('/')}"

    def list_files(self, prefix: str) -> list[FileInfo]:
        """Files under ``prefix`` (or the one file ``prefix`` names), walked folder by folder, sorted by path."""
        from azure.core.exceptions import ResourceNotFoundError

        base = prefix.strip("/")

        def listing() -> list[FileInfo]:
            found: list[FileInfo] = []
            folders = [base]
            while folders:
                folder = folders.pop()
                try:
                    directory = self.client.get_directory_client(folder)
                    items = list(directory.list_directories_and_files(include=["Etag"], retry_total=0))
                except ResourceNotFoundError:
                    if folder == base and base:  # not a folder: maybe one file
                        with contextlib.suppress(ResourceNotFoundError):
                            props = self.client.get_file_client(base).get_file_properties(retry_total=0)
                            found.append(FileInfo(base, props.size, _tag(props)))
                    continue
                for item in items:
                    path = join(folder, item.name)
                    if item.is_directory:
                        folders.append(path)
                    else:
                        found.append(FileInfo(path, item.size, _tag(item)))
            return found

        return sorted(self._call("list", base, listing), key=lambda f: f.path)

    def read_bytes(self, path: str) -> bytes:
        """The file's content."""
        name = path.strip("/")
        file = self.client.get_file_client(name)
        return self._call("read", name, lambda: file.download_file(retry_total=0).readall())

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a temporary file, then rename it over ``path``: a reader sees the old file or the new."""
        name = path.strip("/")
        temporary = f"{name}.tmp-{uuid.uuid4().hex}"
        self._make_parents(name)

        def write() -> None:
            file = self.client.get_file_client(temporary)
            file.upload_file(data, retry_total=0)
            file.rename_file(name, overwrite=True, retry_total=0)

        self._call("write", name, write)

    def upload_file(self, local_path: str, path: str) -> None:
        """Upload the local file to ``path``, making its parent folders."""
        name = path.strip("/")
        self._make_parents(name)

        def upload() -> None:
            with open(local_path, "rb") as handle:
                self.client.get_file_client(name).upload_file(handle, max_concurrency=self.concurrency, retry_total=0)

        self._call("upload", name, upload)

    def download_file(self, path: str, local_path: str) -> None:
        """Download the file to ``local_path``."""
        name = path.strip("/")
        file = self.client.get_file_client(name)
        self._download(name, local_path, lambda: file.download_file(max_concurrency=self.concurrency, retry_total=0))

    def delete(self, path: str) -> None:
        """Delete the file (a missing one is no error)."""
        name = path.strip("/")
        self._delete(name, lambda: self.client.get_file_client(name).delete_file(retry_total=0))

    def _make_parents(self, path: str) -> None:
        """Create the folders above ``path`` (Azure Files does not make them), each once per backend."""
        from azure.core.exceptions import ResourceExistsError

        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder in self._folders:
                continue

            def create(folder: str = folder) -> None:
                with contextlib.suppress(ResourceExistsError):
                    self.client.get_directory_client(folder).create_directory(retry_total=0)

            self._call("create folder", folder, create)
            with self._lock:
                self._folders.add(folder)


def _tag(item: Any) -> str:
    """A content tag: Azure Files lists no MD5, so the ETag where the listing has one, else the size."""
    etag = getattr(item, "etag", None)
    return f"etag:{str(etag).strip(chr(34))}" if etag else f"size:{item.size}"
