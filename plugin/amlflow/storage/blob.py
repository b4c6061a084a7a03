"""A datastore that is an Azure Blob Storage container, through the azure provider's ``WasbHook``.

The Airflow connection whose id is the datastore name says where and how: any authentication the
provider's ``wasb`` connection supports (account key, SAS token, connection string, Azure AD), plus
``container_name`` in its extra. Paths are blob names relative to the container root.

Transfers are chunked and parallel (``[amlflow] transfer_concurrency`` connections per file, and as many
files at once). Every storage call is retried on transient errors and every message scrubbed of the
connection's secrets (``amlflow.storage.azure``); a final failure raises ``DatastoreError`` naming the
datastore, container and path.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from amlflow.exceptions import DatastoreError
from amlflow.storage.azure import AzureStorageBackend, account_from_url, connection_secrets, field, read_connection
from amlflow.storage.base import DatastoreBackend, FileInfo, join
from amlflow.storage.connections import on_connection

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

log = logging.getLogger(__name__)

__all__ = ["BlobBackend", "connection_secrets"]


class BlobBackend(AzureStorageBackend):
    """Blobs in one container. Nothing is read in place: steps get downloaded copies."""

    kind = "azure_blob"

    def __init__(
        self,
        name: str,
        container: str,
        account_name: str,
        client_factory: Callable[[], ContainerClient],
        secrets: Iterable[str] = (),
        endpoint_suffix: str = "core.windows.net",
        sas_token: str | None = None,
    ) -> None:
        super().__init__(name, client_factory, secrets)
        self.sas_token = sas_token
        self.container = container
        self.place = f"container {container!r}"
        self.account_name = account_name
        self.endpoint_suffix = endpoint_suffix

    @classmethod
    def from_connection(cls, name: str, conn: Any) -> BlobBackend:
        """The backend of datastore ``name`` declared by the Airflow ``wasb`` connection ``conn``."""
        extra, secrets, conn_string = read_connection(conn)
        container = field(extra, "container_name")
        if not container:
            raise DatastoreError(f"datastore {name!r}: connection of type 'wasb' has no 'container_name' in its extra")
        # With Azure AD (``tenant_id``) the login is the service principal's client id, not the account.
        login = None if field(extra, "tenant_id") else conn.login
        account = conn_string.get("accountname") or login or account_from_url(conn.host) or "unknown"
        in_host = re.search(r"\.blob\.([^/:]+)", conn.host or "")
        suffix = conn_string.get("endpointsuffix") or (in_host.group(1) if in_host else "core.windows.net")

        def make_client() -> ContainerClient:
            from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

            return on_connection(WasbHook(wasb_conn_id=name), conn).get_conn().get_container_client(container)

        sas = field(extra, "sas_token")
        sas = sas if isinstance(sas, str) and not sas.startswith("https") else None
        return cls(name, container, account, make_client, secrets, suffix, sas)

    # -- the interface ----------------------------------------------------------------------------
    def uri(self, path: str) -> str:
        """The blob's ``wasbs://`` URI."""
        return f"wasbs://{self.container}@{self.account_name}.blob.{self.endpoint_suffix}/{path.strip('/')}"

    def list_files(self, prefix: str) -> list[FileInfo]:
        """Blobs named ``prefix`` or under the folder ``prefix`` (not mere name prefixes), sorted by path."""
        base = prefix.strip("/")

        def listing() -> list[FileInfo]:
            found = []
            for blob in self.client.list_blobs(name_starts_with=base or None, retry_total=0):
                if base and blob.name != base and not blob.name.startswith(base + "/"):
                    continue
                found.append(FileInfo(blob.name, blob.size, _tag(blob)))
            return found

        return sorted(self._call("list", base, listing), key=lambda f: f.path)

    def read_bytes(self, path: str) -> bytes:
        """The blob's content."""
        name = path.strip("/")
        return self._call("read", name, lambda: self.client.download_blob(name, retry_total=0).readall())

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write the blob in one Put Blob."""
        # One Put Blob (or a block list committed at once): readers see the old blob or the new one.
        name = path.strip("/")
        self._call("write", name, lambda: self.client.upload_blob(name, data, overwrite=True, retry_total=0))

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """A Put Blob conditional on no blob being there: the service lets one writer win."""
        # overwrite=False makes Put Blob conditional (If-None-Match: *): the service lets one writer win.
        from azure.core.exceptions import ResourceExistsError

        name = path.strip("/")

        def create() -> bool:
            try:
                self.client.upload_blob(name, data, overwrite=False, retry_total=0)
                return True
            except ResourceExistsError:
                return False

        return self._call("create", name, create)

    def upload_file(self, local_path: str, path: str) -> None:
        """Upload the local file as the blob, ``concurrency`` blocks at a time."""
        name = path.strip("/")
        size = os.path.getsize(local_path)

        def upload() -> None:
            with open(local_path, "rb") as handle:
                self.client.upload_blob(
                    name, handle, length=size, overwrite=True, max_concurrency=self.concurrency, retry_total=0
                )

        self._call("upload", name, upload)

    def download_file(self, path: str, local_path: str) -> None:
        """Download the blob to ``local_path``, ``concurrency`` blocks at a time."""
        name = path.strip("/")
        self._download(
            name, local_path, lambda: self.client.download_blob(name, max_concurrency=self.concurrency, retry_total=0)
        )

    def delete(self, path: str) -> None:
        """Delete the blob (a missing one is no error)."""
        name = path.strip("/")
        self._delete(name, lambda: self.client.delete_blob(name, retry_total=0))

    def copy_from(self, source: DatastoreBackend, source_path: str, dest_path: str) -> int:
        """Server-side copy when ``source`` is a blob container too: the storage service copies (Copy Blob)
        and the worker only asks and waits for each copy to finish, so the bytes never pass through it.

        Within one storage account this datastore's credential authorizes the read. From another account
        the source URL carries the source connection's SAS token, or a read-only SAS valid for an hour,
        signed with the source's account key or an Azure AD user delegation key. A source that can sign
        none, or another kind of datastore, goes through the default (streaming through the worker).
        """
        if not isinstance(source, BlobBackend):
            return super().copy_from(source, source_path, dest_path)
        same_account = (
            source.client.primary_hostname == self.client.primary_hostname
            and source.client.account_name == self.client.account_name
        )
        sign = None if same_account or source.sas_token else source._read_signer()
        if not same_account and not source.sas_token and sign is None:
            log.warning(
                "Datastore %r cannot sign a SAS for %r (no account key, SAS token or Azure AD credential): "
                "copying through the worker",
                source.name,
                self.name,
            )
            return super().copy_from(source, source_path, dest_path)
        base = source_path.strip("/")
        files = source.list_files(base)

        def copy_one(info: FileInfo) -> None:
            rel = info.path[len(base) :].lstrip("/") if info.path != base else os.path.basename(base)
            target = join(dest_path, rel) if info.path != base or not dest_path else dest_path.strip("/")
            url = source.client.get_blob_client(info.path).url
            token = source.sas_token or (sign(info.path) if sign else None)
            if token and "?" not in url:
                url = f"{url}?{token.lstrip('?')}"

            def copy() -> None:
                blob = self.client.get_blob_client(target)
                status = blob.start_copy_from_url(url, retry_total=0).get("copy_status")
                delay = 0.2
                while status == "pending":  # a large blob, or another account: the service copies on its own
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    status = blob.get_blob_properties(retry_total=0).copy.status
                if status != "success":
                    raise DatastoreError(f"server-side copy ended as {status!r}")

            self._call("copy", target, copy)

        self.run_parallel(copy_one, files)
        return len(files)

    def _read_signer(self) -> Callable[[str], str] | None:
        """A function giving a read-only SAS (one hour) for a blob of this container; None if this
        connection's credential can sign none (it is neither an account key nor an Azure AD credential)."""
        from datetime import UTC, datetime, timedelta

        from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

        credential = self.client.credential
        now = datetime.now(UTC)
        expiry = now + timedelta(hours=1)
        if getattr(credential, "account_key", None):
            signing: dict[str, Any] = {"account_key": credential.account_key}
        elif hasattr(credential, "get_token"):
            service = BlobServiceClient(self.client.url.rsplit("/", 1)[0], credential=credential)
            signing = {"user_delegation_key": service.get_user_delegation_key(now, expiry)}
        else:
            return None

        def sign(path: str) -> str:
            return generate_blob_sas(
                self.client.account_name,
                self.container,
                path,
                permission=BlobSasPermissions(read=True),
                expiry=expiry,
                **signing,
            )

        return sign


# -- helpers ----------------------------------------------------------------------------------------
def _tag(blob: Any) -> str:
    """A content tag: the MD5 when the service keeps one (single-put uploads), else the ETag."""
    md5 = getattr(getattr(blob, "content_settings", None), "content_md5", None)
    if md5:
        return "md5:" + base64.b16encode(bytes(md5)).decode().lower()
    return "etag:" + str(blob.etag).strip('"')
