"""The Databricks hook amlflow uses: the provider's, plus the DBFS upload a ``python_script_name`` needs."""

from __future__ import annotations

import base64
import os

from airflow.providers.databricks.hooks.databricks import DatabricksHook

DBFS_CREATE_ENDPOINT = ("POST", "2.0/dbfs/create")
DBFS_ADD_BLOCK_ENDPOINT = ("POST", "2.0/dbfs/add-block")
DBFS_CLOSE_ENDPOINT = ("POST", "2.0/dbfs/close")
DBFS_MKDIRS_ENDPOINT = ("POST", "2.0/dbfs/mkdirs")
#: DBFS takes at most 1 MB of data per add-block call.
DBFS_BLOCK_BYTES = 1 << 20


class DatabricksStepHook(DatabricksHook):
    """``DatabricksHook`` (its connection, auth and retries) with a streaming DBFS upload."""

    def upload_to_dbfs(self, local_path: str, dbfs_path: str) -> None:
        """Upload one file with DBFS's streaming calls (create, add-block per MB, close); overwrites."""
        path = dbfs_path.removeprefix("dbfs:")
        handle = self._do_api_call(DBFS_CREATE_ENDPOINT, {"path": path, "overwrite": True})["handle"]
        with open(local_path, "rb") as source:
            while block := source.read(DBFS_BLOCK_BYTES):
                self._do_api_call(DBFS_ADD_BLOCK_ENDPOINT, {"handle": handle, "data": base64.b64encode(block).decode()})
        self._do_api_call(DBFS_CLOSE_ENDPOINT, {"handle": handle})

    def upload_folder_to_dbfs(self, folder: str, dbfs_folder: str) -> list[str]:
        """Upload every file under ``folder`` (no hidden folders, no ``__pycache__``); returns the DBFS paths."""
        self._do_api_call(DBFS_MKDIRS_ENDPOINT, {"path": dbfs_folder.removeprefix("dbfs:")})
        uploaded = []
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
            for name in sorted(names):
                rel = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
                target = f"{dbfs_folder.rstrip('/')}/{rel}"
                self.upload_to_dbfs(os.path.join(root, name), target)
                uploaded.append(target)
        return uploaded
