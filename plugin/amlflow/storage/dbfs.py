"""A datastore that is the Databricks File System (``Datastore.register_dbfs``): for DatabricksStep only.

Azure ML's rule: "The DBFS datastore can only be used to create DataReference as input and PipelineData as
output to DatabricksStep". Which DBFS it is depends on the step: the one of the Databricks workspace the
step runs on. So the backend moves data only while a DatabricksStep's operator runs (``through(hook)``,
with that step's Databricks connection): the cluster gets ``dbfs:/<path>``, and the operator lists, clears
and commits outputs through DBFS API 2.0. Anywhere else every operation fails with Azure ML's rule.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from amlflow.exceptions import DatastoreError
from amlflow.storage.base import DatastoreBackend, FileInfo, OutputStaging, PermanentDatastoreError

RULE = "a DBFS datastore can only be used to create DataReference as input and PipelineData as output to DatabricksStep"
#: DBFS's ``read`` returns at most 1 MB per call.
READ_BYTES = 1 << 20

_hook: contextvars.ContextVar[Any] = contextvars.ContextVar("amlflow_dbfs_hook", default=None)


@contextlib.contextmanager
def through(hook: Any) -> Iterator[None]:
    """While the body runs, DBFS datastores are the DBFS of ``hook``'s Databricks workspace."""
    token = _hook.set(hook)
    try:
        yield
    finally:
        _hook.reset(token)


class DbfsBackend(DatastoreBackend):
    """Files on the DBFS of the running DatabricksStep's workspace; nothing outside such a step."""

    kind = "dbfs"

    def uri(self, path: str) -> str:
        """The file's ``dbfs:/`` URI."""
        return f"dbfs:/{path.strip('/')}"

    def _api(self, method: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        hook = _hook.get()
        if hook is None:
            raise PermanentDatastoreError(f"datastore {self.name!r}: {RULE}")
        try:
            return hook._do_api_call((method, f"2.0/dbfs/{endpoint}"), body) or {}
        except Exception as error:
            if "RESOURCE_DOES_NOT_EXIST" in str(error):
                raise FileNotFoundError(body.get("path")) from None
            what = f"DBFS {endpoint} {body.get('path')!r}"
            raise DatastoreError(f"datastore {self.name!r}: {what} failed: {error}") from None

    def list_files(self, prefix: str) -> list[FileInfo]:
        """Files under ``prefix``, walked folder by folder through the DBFS API, sorted by path."""
        base = prefix.strip("/")
        found: list[FileInfo] = []
        folders = [f"/{base}"]
        while folders:
            try:
                entries = self._api("GET", "list", {"path": folders.pop()}).get("files") or []
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.get("is_dir"):
                    folders.append(entry["path"])
                else:
                    size, tag = int(entry.get("file_size", 0)), f"mtime:{entry.get('modification_time')}"
                    found.append(FileInfo(entry["path"].lstrip("/"), size, tag))
        return sorted(found, key=lambda f: f.path)

    def read_bytes(self, path: str) -> bytes:
        """The file's content, read in ``READ_BYTES`` blocks (DBFS's limit per call)."""
        data, offset = bytearray(), 0
        while True:
            answer = self._api("GET", "read", {"path": f"/{path.strip('/')}", "offset": offset, "length": READ_BYTES})
            block = base64.b64decode(answer.get("data") or "")
            data.extend(block)
            offset += len(block)
            if len(block) < READ_BYTES:
                return bytes(data)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write the file through a DBFS streaming handle, in blocks, replacing any file there."""
        target = f"/{path.strip('/')}"
        handle = self._api("POST", "create", {"path": target, "overwrite": True})["handle"]
        for start in range(0, len(data), READ_BYTES):
            block = base64.b64encode(data[start : start + READ_BYTES]).decode()
            self._api("POST", "add-block", {"handle": handle, "data": block})
        self._api("POST", "close", {"handle": handle})

    def upload_file(self, local_path: str, path: str) -> None:
        """Upload the local file (read whole, then written as ``write_bytes`` does)."""
        with open(local_path, "rb") as handle:
            self.write_bytes(path, handle.read())

    def download_file(self, path: str, local_path: str) -> None:
        """Download the file to ``local_path``."""
        with open(local_path, "wb") as handle:
            handle.write(self.read_bytes(path))

    def delete(self, path: str) -> None:
        """Delete the file (a missing one is no error)."""
        with contextlib.suppress(FileNotFoundError):
            self._api("POST", "delete", {"path": f"/{path.strip('/')}", "recursive": False})

    def stage_output(self, path: str) -> OutputStaging:
        """Raises ``PermanentDatastoreError``: on DBFS only a DatabricksStep writes outputs (Azure ML's rule)."""
        raise PermanentDatastoreError(f"datastore {self.name!r}: {RULE}")
