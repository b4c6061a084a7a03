"""Datastore name -> backend, resolved when a task runs.

A datastore name is an Airflow connection id. What the connection points at decides the backend; a name
with no connection (AML's ``workspaceblobstore`` and ``workspacefilestore`` included) is a local folder
under ``[amlflow] local_datastore_root``, so a pipeline runs on one machine with no setup at all.
"""

from __future__ import annotations

import logging
import os
import threading

from amlflow import config
from amlflow.exceptions import DatastoreError
from amlflow.storage.base import DatastoreBackend
from amlflow.storage.local import LocalBackend

log = logging.getLogger(__name__)

_cache: dict[str, DatastoreBackend] = {}
_lock = threading.Lock()


def get_backend(name: str) -> DatastoreBackend:
    """The backend of datastore ``name`` (cached per process)."""
    with _lock:
        backend = _cache.get(name)
        if backend is None:
            backend = _cache[name] = _resolve(name)
        return backend


def forget_backends() -> None:
    """Drop cached backends, e.g. after a connection was registered or changed."""
    with _lock:
        _cache.clear()


def _resolve(name: str) -> DatastoreBackend:
    connection = _find_connection(name)
    if connection is None:
        root = os.path.join(config.local_datastore_root(), name)
        log.info("Datastore %r has no Airflow connection: using the local folder %s", name, root)
        return LocalBackend(name, root)
    if connection.conn_type == "fs":
        path = (connection.extra_dejson or {}).get("path")
        if not path:
            raise DatastoreError(f"datastore {name!r}: connection of type 'fs' has no 'path' in its extra")
        return LocalBackend(name, path)
    if connection.conn_type == "wasb":
        from amlflow.storage.blob import BlobBackend

        return BlobBackend.from_connection(name, connection)
    raise DatastoreError(
        f"datastore {name!r}: connection type {connection.conn_type!r} is not a datastore amlflow knows "
        "(use 'wasb' for Azure Blob or 'fs' for a local folder)"
    )


def _find_connection(name: str):
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(name)
    except AirflowNotFoundException:
        return None
