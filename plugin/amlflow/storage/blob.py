"""A datastore that is an Azure Blob Storage container, through the azure provider's ``WasbHook``.

The Airflow connection whose id is the datastore name says where and how: any authentication the
provider's ``wasb`` connection supports (account key, SAS token, connection string, Azure AD), plus
``container_name`` in its extra. Paths are blob names relative to the container root.

Transfers are chunked and parallel (``[amlflow] transfer_concurrency`` connections per file, and as many
files at once). Every storage call is retried on transient errors (network, timeouts, 408/429/5xx) with
exponential backoff, logged; the SDK's own retries are switched off per call, because its default backoff
(15 s, then longer) would hide a dead endpoint for minutes. A final failure raises ``DatastoreError``
naming the datastore, container and path; connection secrets are masked in task logs and scrubbed
from every message this module writes.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from amlflow import config
from amlflow.exceptions import DatastoreError
from amlflow.storage import leases
from amlflow.storage.base import DatastoreBackend, FileInfo, OutputStaging, join
from amlflow.storage.manifest import Manifest

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

log = logging.getLogger(__name__)

T = TypeVar("T")

#: HTTP statuses worth another try: timeout, throttling, server errors.
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Extra fields of a ``wasb`` connection that hold secrets (the provider's names, with and without prefix).
SECRET_FIELDS = ("connection_string", "sas_token", "account_key", "shared_access_key", "client_secret")
_CONN_STRING_SECRETS = re.compile(r"(?:AccountKey|SharedAccessSignature)=([^;]+)", re.IGNORECASE)
#: SAS signatures that may appear in URLs inside SDK error messages.
_SAS_SIGNATURE = re.compile(r"([?&]sig=)[^&\s'\"]+", re.IGNORECASE)


class BlobBackend(DatastoreBackend):
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
        super().__init__(name)
        self.sas_token = sas_token
        self.container = container
        self.account_name = account_name
        self.endpoint_suffix = endpoint_suffix
        self._client_factory = client_factory
        self._client: ContainerClient | None = None
        self._client_lock = threading.Lock()
        #: connections per file (read once: a changed setting applies after ``forget_backends()``)
        self.concurrency = max(1, config.get_int("transfer_concurrency"))
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    @classmethod
    def from_connection(cls, name: str, conn: Any) -> BlobBackend:
        """The backend of datastore ``name`` declared by the Airflow ``wasb`` connection ``conn``."""
        extra = conn.extra_dejson or {}
        container = _field(extra, "container_name")
        if not container:
            raise DatastoreError(f"datastore {name!r}: connection of type 'wasb' has no 'container_name' in its extra")
        secrets = connection_secrets(conn)
        _mask(secrets)
        conn_string = _parse_connection_string(_field(extra, "connection_string") or "")
        account = conn.login or conn_string.get("accountname") or _account_from_host(conn.host) or "unknown"
        in_host = re.search(r"\.blob\.([^/:]+)", conn.host or "")
        suffix = conn_string.get("endpointsuffix") or (in_host.group(1) if in_host else "core.windows.net")

        def make_client() -> ContainerClient:
            from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

            class _Hook(WasbHook):
                # The connection was read once already (by the registry or a registration): reuse it.
                def get_connection(self, conn_id: str) -> Any:
                    return conn

            return _Hook(wasb_conn_id=name).get_conn().get_container_client(container)

        sas = _field(extra, "sas_token")
        sas = sas if isinstance(sas, str) and not sas.startswith("https") else None
        return cls(name, container, account, make_client, secrets, suffix, sas)

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def client(self) -> ContainerClient:
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this datastore's connection (and any SAS signature) replaced."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _SAS_SIGNATURE.sub(r"\1***", text)

    def _where(self, path: str) -> str:
        return f"datastore {self.name!r}, container {self.container!r}, path {path!r}"

    def _call(self, what: str, path: str, operation: Callable[[], T]) -> T:
        """Run one storage operation, retrying transient errors; a final failure is a DatastoreError."""
        attempt, retries, delay = 0, 0, 0.0
        while True:
            try:
                return operation()
            except Exception as error:
                if not is_transient(error):
                    raise DatastoreError(f"{what} failed: {self._where(path)}: {self._describe(error)}") from None
                if attempt == 0:  # the retry settings are read only when needed: this runs per file
                    retries = max(0, config.get_int("transfer_retries"))
                    delay = float(config.get("transfer_retry_backoff"))
                if attempt == retries:
                    raise DatastoreError(
                        f"{what} failed after {retries + 1} attempts: {self._where(path)}: {self._describe(error)}"
                    ) from None
                attempt += 1
                log.warning(
                    "%s failed (%s): %s; retry %d of %d in %.1f s",
                    what,
                    self._describe(error),
                    self._where(path),
                    attempt,
                    retries,
                    delay,
                )
            time.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _describe(self, error: Exception) -> str:
        code = getattr(error, "error_code", None) or getattr(error, "status_code", None)
        # The first line only: SDK messages go on with request ids, headers and XML bodies.
        first = (str(getattr(error, "reason", None) or error).strip().splitlines() or [""])[0]
        return self.scrub(f"{type(error).__name__}{f' {code}' if code else ''}: {first[:300]}")

    def check_container(self, create: bool = False) -> None:
        """Check that the container answers with these credentials; with ``create``, create it if missing."""
        from azure.core.exceptions import ResourceExistsError

        def create_container() -> None:
            with contextlib.suppress(ResourceExistsError):
                self.client.create_container(retry_total=0)

        if create:
            self._call("create container", "", create_container)
        self._call("check container", "", lambda: self.client.get_container_properties(retry_total=0))

    # -- the interface ----------------------------------------------------------------------------
    def uri(self, path: str) -> str:
        return f"wasbs://{self.container}@{self.account_name}.blob.{self.endpoint_suffix}/{path.strip('/')}"

    def list_files(self, prefix: str) -> list[FileInfo]:
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
        name = path.strip("/")
        return self._call("read", name, lambda: self.client.download_blob(name, retry_total=0).readall())

    def write_bytes(self, path: str, data: bytes) -> None:
        # One Put Blob (or a block list committed at once): readers see the old blob or the new one.
        name = path.strip("/")
        self._call("write", name, lambda: self.client.upload_blob(name, data, overwrite=True, retry_total=0))

    def upload_file(self, local_path: str, path: str) -> None:
        name = path.strip("/")
        size = os.path.getsize(local_path)

        def upload() -> None:
            with open(local_path, "rb") as handle:
                self.client.upload_blob(
                    name, handle, length=size, overwrite=True, max_concurrency=self.concurrency, retry_total=0
                )

        self._call("upload", name, upload)

    def download_file(self, path: str, local_path: str) -> None:
        name = path.strip("/")
        os.makedirs(os.path.dirname(local_path) or ".", exist_ok=True)

        def download() -> None:
            # Straight into the target (a temporary file renamed over it costs a forced flush on ext4),
            # and a failed try removes what it wrote: no half file is left behind.
            try:
                with open(local_path, "wb") as handle:
                    stream = self.client.download_blob(name, max_concurrency=self.concurrency, retry_total=0)
                    stream.readinto(handle)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(local_path)
                raise

        self._call("download", name, download)

    def delete(self, path: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        name = path.strip("/")

        def delete() -> None:
            with contextlib.suppress(ResourceNotFoundError):
                self.client.delete_blob(name, retry_total=0)

        self._call("delete", name, delete)

    def stage_output(self, path: str) -> OutputStaging:
        path = path.strip("/")
        return _BlobStaging(self, path, leases.take(leases.work_root(), "out-", {"output": self.uri(path)}))

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


class _BlobStaging(OutputStaging):
    """Written in a leased local scratch folder; committed by uploading its files, then the manifest."""

    backend: BlobBackend

    def __init__(self, backend: BlobBackend, path: str, lease: leases.Lease) -> None:
        super().__init__(backend, path, lease.path)
        self._lease = lease

    def commit(self) -> Manifest:
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
        self._lease.release()


# -- helpers ----------------------------------------------------------------------------------------
def is_transient(error: BaseException) -> bool:
    """Network trouble, timeouts, throttling and server errors: worth another try."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(error, ServiceRequestError | ServiceResponseError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, HttpResponseError):
        return error.status_code is None or error.status_code in TRANSIENT_STATUS
    return False


def connection_secrets(conn: Any) -> list[str]:
    """Every secret a ``wasb`` connection holds: its password and the secret fields of its extra."""
    extra = conn.extra_dejson or {}
    secrets = [conn.password or ""]
    for key in SECRET_FIELDS:
        value = _field(extra, key)
        if isinstance(value, str) and value:
            secrets.append(value)
            secrets.extend(_CONN_STRING_SECRETS.findall(value))
            if "?" in value:  # a SAS URL: its query string is the token
                secrets.append(value.split("?", 1)[1])
    return [s for s in secrets if s]


def _mask(secrets: list[str]) -> None:
    """Have Airflow's secrets masker redact these in task logs (it does not know every wasb field)."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        mask_secret(secret)


def _field(extra: dict[str, Any], key: str) -> Any:
    """An extra field under its plain or its legacy ``extra__wasb__`` name, as the provider reads it."""
    return extra.get(key) or extra.get(f"extra__wasb__{key}")


def _parse_connection_string(text: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {key.strip().lower(): value for key, value in pairs}


def _account_from_host(host: str | None) -> str | None:
    if not host:
        return None
    bare = re.sub(r"^https?://", "", host).split("/")[0]
    return bare.split(".")[0] or None


def _tag(blob: Any) -> str:
    """A content tag: the MD5 when the service keeps one (single-put uploads), else the ETag."""
    md5 = getattr(getattr(blob, "content_settings", None), "content_md5", None)
    if md5:
        return "md5:" + base64.b16encode(bytes(md5)).decode().lower()
    return "etag:" + str(blob.etag).strip('"')
