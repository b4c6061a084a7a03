"""The Databricks hook amlflow uses: the provider's, plus the DBFS upload a ``python_script_name`` needs."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from airflow.providers.databricks.hooks.databricks import DatabricksHook

DBFS_CREATE_ENDPOINT = ("POST", "2.0/dbfs/create")
DBFS_ADD_BLOCK_ENDPOINT = ("POST", "2.0/dbfs/add-block")
DBFS_CLOSE_ENDPOINT = ("POST", "2.0/dbfs/close")
DBFS_MKDIRS_ENDPOINT = ("POST", "2.0/dbfs/mkdirs")
DBFS_GET_STATUS_ENDPOINT = ("GET", "2.0/dbfs/get-status")
WORKSPACE_EXPORT_ENDPOINT = ("GET", "2.0/workspace/export")
#: DBFS takes at most 1 MB of data per add-block call.
DBFS_BLOCK_BYTES = 1 << 20


def uploaded_files(folder: str) -> list[tuple[str, str]]:
    """What ``upload_folder_to_dbfs`` uploads of ``folder`` (no hidden folders, no ``__pycache__``):
    ``(relative path, local path)`` pairs, in order."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(names):
            path = os.path.join(root, name)
            found.append((os.path.relpath(path, folder).replace(os.sep, "/"), path))
    return found


class DatabricksStepHook(DatabricksHook):
    """``DatabricksHook`` (its connection, auth and retries) with a streaming DBFS upload and a look at the
    code a run executes."""

    def upload_to_dbfs(self, local_path: str, dbfs_path: str) -> None:
        """Upload one file with DBFS's streaming calls (create, add-block per MB, close); overwrites."""
        path = dbfs_path.removeprefix("dbfs:")
        handle = self._do_api_call(DBFS_CREATE_ENDPOINT, {"path": path, "overwrite": True})["handle"]
        with open(local_path, "rb") as source:
            while block := source.read(DBFS_BLOCK_BYTES):
                self._do_api_call(DBFS_ADD_BLOCK_ENDPOINT, {"handle": handle, "data": base64.b64encode(block).decode()})
        self._do_api_call(DBFS_CLOSE_ENDPOINT, {"handle": handle})

    def upload_folder_to_dbfs(self, folder: str, dbfs_folder: str) -> list[str]:
        """Upload every file of ``uploaded_files(folder)``; returns the DBFS paths."""
        self._do_api_call(DBFS_MKDIRS_ENDPOINT, {"path": dbfs_folder.removeprefix("dbfs:")})
        uploaded = []
        for rel, path in uploaded_files(folder):
            target = f"{dbfs_folder.rstrip('/')}/{rel}"
            self.upload_to_dbfs(path, target)
            uploaded.append(target)
        return uploaded

    def notebook_digest(self, notebook_path: str) -> str:
        """SHA-256 of a workspace notebook's source, as the Workspace API exports it."""
        answer = self._do_api_call(WORKSPACE_EXPORT_ENDPOINT, {"path": notebook_path, "format": "SOURCE"})
        return hashlib.sha256(base64.b64decode(answer["content"])).hexdigest()

    def dbfs_file_version(self, dbfs_path: str) -> list[Any]:
        """A DBFS file's path, size and modification time: what changes when the file is replaced."""
        path = dbfs_path.removeprefix("dbfs:")
        status = self._do_api_call(DBFS_GET_STATUS_ENDPOINT, {"path": path})
        return [path, status.get("file_size"), status.get("modification_time")]
