"""What the Azure Storage backends (Blob, Files) share: retried calls, scrubbed messages, connection secrets.

Every storage call goes through ``AzureStorageBackend._call``: retried on transient errors (network,
timeouts, 408/429/5xx) with exponential backoff (``[amlflow] transfer_retries``,
``transfer_retry_backoff``), logged; the SDK's own retries are switched off per call, because its default
backoff (15 s, then longer) would hide a dead endpoint for minutes. A final failure raises
``DatastoreError`` naming the datastore and the path; the connection's secrets are masked in task logs
and scrubbed from every message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from amlflow import config
from amlflow.exceptions import DatastoreError
from amlflow.storage import leases
from amlflow.storage.base import DatastoreBackend, OutputStaging, UploadStaging

T = TypeVar("T")

log = logging.getLogger(__name__)

#: HTTP statuses worth another try: timeout, throttling, server errors.
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: Extra fields of a ``wasb`` / ``azure_fileshare`` connection that hold secrets (with and without prefix).
SECRET_FIELDS = ("connection_string", "sas_token", "account_key", "shared_access_key", "client_secret")
_CONN_STRING_SECRETS = re.compile(r"(?:AccountKey|SharedAccessSignature)=([^;]+)", re.IGNORECASE)
#: SAS signatures that may appear in URLs inside SDK error messages.
_SAS_SIGNATURE = re.compile(r"([?&]sig=)[^&\s'\"]+", re.IGNORECASE)


class AzureStorageBackend(DatastoreBackend):
    """A backend on one Azure Storage SDK client (a container, a share), made on first use: retried calls,
    secret-free messages, and what Blob and Files do alike. Nothing is read in place: steps get copies."""

    def __init__(self, name: str, client_factory: Callable[[], Any], secrets: Iterable[str] = ()) -> None:
        super().__init__(name)
        #: connections per file (read once: a changed setting applies after ``forget_backends()``)
        self.concurrency = max(1, config.get_int("transfer_concurrency"))
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._client_factory = client_factory
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The storage SDK client, made on first use (once, under a lock)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def _download(self, name: str, local_path: str, stream: Callable[[], Any]) -> None:
        """Write the download ``stream()`` opens straight into ``local_path`` (a temporary file renamed over
        it costs a forced flush on ext4); a failed try removes what it wrote, so no half file is left."""
        os.makedirs(os.path.dirname(local_path) or ".", exist_ok=True)

        def download() -> None:
            try:
                with open(local_path, "wb") as handle:
                    stream().readinto(handle)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(local_path)
                raise

        self._call("download", name, download)

    def _delete(self, name: str, delete: Callable[[], Any]) -> None:
        """Delete one file; a missing one is not an error."""
        from azure.core.exceptions import ResourceNotFoundError

        def attempt() -> None:
            with contextlib.suppress(ResourceNotFoundError):
                delete()

        self._call("delete", name, attempt)

    def stage_output(self, path: str) -> OutputStaging:
        """Stage the output in a leased local folder, uploaded when it is committed."""
        path = path.strip("/")
        return UploadStaging(self, path, leases.take(leases.work_root(), "out-", {"output": self.uri(path)}))

    #: what the datastore is in its account, for messages: ``container 'x'``, ``share 'y'``
    place = ""

    def _where(self, path: str) -> str:
        """The datastore, its container or share, and ``path``: what an error message names."""
        return f"datastore {self.name!r}, {self.place}, path {path!r}"

    def check(self, create: bool = False) -> None:
        """Check that the container or share answers with these credentials; with ``create``, create it
        first if it is missing (a registration's validation)."""
        from azure.core.exceptions import ResourceExistsError

        kind = self.place.split()[0]

        def make() -> None:
            with contextlib.suppress(ResourceExistsError):
                getattr(self.client, f"create_{kind}")(retry_total=0)

        if create:
            self._call(f"create {kind}", "", make)
        self._call(f"check {kind}", "", lambda: getattr(self.client, f"get_{kind}_properties")(retry_total=0))

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this datastore's connection (and any SAS signature) replaced."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _SAS_SIGNATURE.sub(r"\1***", text)

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


def is_transient(error: BaseException) -> bool:
    """Network trouble, timeouts, throttling and server errors: worth another try."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(error, ServiceRequestError | ServiceResponseError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, HttpResponseError):
        return error.status_code is None or error.status_code in TRANSIENT_STATUS
    return False


def read_connection(conn: Any) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """A connection's extra, its secrets (now masked in task logs) and its parsed connection string."""
    extra = conn.extra_dejson or {}
    secrets = connection_secrets(conn)
    mask(secrets)
    return extra, secrets, parse_connection_string(field(extra, "connection_string") or "")


def connection_secrets(conn: Any) -> list[str]:
    """Every secret a connection holds: its password and the secret fields of its extra."""
    extra = conn.extra_dejson or {}
    secrets = [conn.password or ""]
    for key in SECRET_FIELDS:
        value = field(extra, key)
        if isinstance(value, str) and value:
            secrets.append(value)
            secrets.extend(_CONN_STRING_SECRETS.findall(value))
            if "?" in value:  # a SAS URL: its query string is the token
                secrets.append(value.split("?", 1)[1])
    return [s for s in secrets if s]


def mask(secrets: list[str]) -> None:
    """Have Airflow's secrets masker redact these in task logs (it does not know every extra field)."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        mask_secret(secret)


def field(extra: dict[str, Any], key: str) -> Any:
    """An extra field under its plain or its legacy ``extra__wasb__`` name, as the provider reads it."""
    return extra.get(key) or extra.get(f"extra__wasb__{key}")


def parse_connection_string(text: str) -> dict[str, str]:
    """An Azure storage connection string's ``key=value`` pairs, keys lowercased."""
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {key.strip().lower(): value for key, value in pairs}


def account_from_url(url: str | None) -> str | None:
    """The account of ``https://<account>.<service>.<suffix>``, or the first path part of an emulator's URL."""
    if not url:
        return None
    bare = re.sub(r"^https?://", "", url)
    host, _, rest = bare.partition("/")
    if re.match(r"^[\d.]+(:\d+)?$|^localhost(:\d+)?$", host) and rest:
        return rest.split("/")[0]
    return host.split(".")[0] or None
