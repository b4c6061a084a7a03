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
from amlflow.storage.names import datastore_name_problem

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
    problem = datastore_name_problem(name)
    if problem:
        raise DatastoreError(f"datastore {problem}")
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
        return _from_metadata_db(name)


def _from_metadata_db(name: str):
    """Outside a task, the metadata database too: a deploy script that just registered a datastore uses it.

    (In a task the connection comes through the supervisor, which reads the database itself; tasks must not.)
    """
    from airflow.sdk.execution_time import task_runner

    if getattr(task_runner, "SUPERVISOR_COMMS", None) is not None:
        return None
    try:
        from airflow.models.connection import Connection

        return Connection.get_connection_from_secrets(name)
    except Exception as error:  # not found, or no database here: the name is a local folder
        log.debug("Datastore %r: no connection in the metadata database (%s)", name, error)
        return None
