"""Datastore name -> backend, resolved when a task runs; and whether a name is registered at all.

A datastore name is an Airflow connection id. What the connection points at decides the backend; a name
with no connection is a local folder under ``[amlflow] local_datastore_root`` if that folder exists, or if
it is AML's ``workspaceblobstore`` or ``workspacefilestore`` or the default datastore (made on first use,
so a pipeline runs on one machine with no setup at all); any other name is not registered, and using it
fails with Azure ML's "Could not find datastore" (never a new folder a typo would make). That local
fallback holds only where tasks share one disk (``[amlflow] local_datastore_fallback``, by default: every
executor is the LocalExecutor); on workers that share no disk a name without a connection fails, naming
the setting, instead of scattering a pipeline's data over the workers' disks.
Registered names are case-insensitive, as in Azure ML: a name is looked up as written, then in lowercase
(what ``Datastore.register_*`` stores).
"""

from __future__ import annotations

import logging
import os
import threading

from amlflow import config
from amlflow.exceptions import DatastoreError
from amlflow.storage.base import DatastoreBackend, PermanentDatastoreError
from amlflow.storage.connections import SQL_CONNECTION_TYPES, datastore_type
from amlflow.storage.local import LocalBackend
from amlflow.storage.names import datastore_name_problem

#: Azure ML's datastores that every workspace has: here local folders until a connection says otherwise.
WELL_KNOWN = ("workspaceblobstore", "workspacefilestore")

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
    connection = find_connection(name)
    if connection is None:
        if not local_fallback():
            raise PermanentDatastoreError(no_fallback_message(name))
        root = os.path.join(config.local_datastore_root(), name)
        if not (_always_there(name) or os.path.isdir(root)):
            # Not a new folder: on many machines each worker would make its own, and a typo would go unseen.
            raise PermanentDatastoreError(not_found_message(name))
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
    if connection.conn_type == "azure_fileshare":
        from amlflow.storage.fileshare import FileShareBackend

        return FileShareBackend.from_connection(name, connection)
    if connection.conn_type == "dbfs":
        from amlflow.storage.dbfs import DbfsBackend

        return DbfsBackend(name)
    if connection.conn_type in SQL_CONNECTION_TYPES:
        from amlflow.storage.sql import SqlBackend

        return SqlBackend(name, connection)
    raise DatastoreError(
        f"datastore {name!r}: connection type {connection.conn_type!r} is not a datastore amlflow knows "
        "(use 'wasb' for Azure Blob or ADLS Gen2, 'azure_fileshare' for Azure Files, 'dbfs', "
        "'postgres', 'mysql' or 'mssql' for a SQL database, or 'fs' for a local folder)"
    )


def lookup(name: str) -> tuple[str, str] | None:
    """``(name as registered, Azure ML's datastore type)`` if datastore ``name`` is registered here, else None.

    Registered means: an Airflow connection of that id (environment, secrets backends, metadata
    database; as written, else in lowercase), or a folder of that name under ``[amlflow]
    local_datastore_root``; AML's well-known ``workspaceblobstore`` and ``workspacefilestore`` always are.
    Nothing is cached: a registration made a moment ago counts.
    """
    if datastore_name_problem(name):
        return None
    connection = find_connection(name)
    if connection is not None:
        return connection.conn_id, datastore_type(connection)
    if local_fallback() and (_always_there(name) or os.path.isdir(os.path.join(config.local_datastore_root(), name))):
        return name, "Local"
    return None


def local_fallback() -> bool:
    """Whether a name with no connection may be a local folder: ``[amlflow] local_datastore_fallback`` is
    ``true`` or ``false``, or ``auto`` (the default): only where every executor of ``[core] executor`` is
    the LocalExecutor, whose tasks all run on this machine."""
    value = config.get("local_datastore_fallback").strip().lower()
    if value in ("true", "false"):
        return value == "true"
    if value != "auto":
        raise DatastoreError(f"[amlflow] local_datastore_fallback is {value!r}: use auto, true or false")
    from airflow.configuration import conf

    # An entry is a class name, a dotted path, or ``alias:path`` (Airflow's multiple executors).
    entries = [part.strip() for part in conf.get("core", "executor", fallback="LocalExecutor").split(",")]
    return all(entry.split(":")[-1].split(".")[-1] == "LocalExecutor" for entry in entries if entry)


def no_fallback_message(name: str) -> str:
    """The error for a datastore with no connection where the local fallback is off."""
    from airflow.configuration import conf

    return (
        f"datastore {name!r} has no Airflow connection, and [amlflow] local_datastore_fallback is off here "
        f"(setting {config.get('local_datastore_fallback')!r}, [core] executor "
        f"{conf.get('core', 'executor', fallback='LocalExecutor')!r}): on workers that share no disk a local folder "
        f"would be a different folder on each. Create the connection {name!r} (a Datastore.register_* method, "
        "or `airflow connections add`), or set [amlflow] local_datastore_fallback = true if every task runs on "
        "this machine"
    )


def registered_names() -> list[str]:
    """Every datastore name this machine can see: connections of datastore types in the environment
    (``AIRFLOW_CONN_*``) and the metadata database, local datastore folders, and the well-known names.

    (A secrets backend can not be listed; its connections count for ``lookup`` all the same.)
    """
    from amlflow.storage.connections import DATASTORE_TYPES

    names = set(WELL_KNOWN) | {config.get("default_datastore")}
    root = config.local_datastore_root()
    if os.path.isdir(root):
        names.update(entry for entry in os.listdir(root) if not datastore_name_problem(entry))
    names.update(key[len("AIRFLOW_CONN_") :].lower() for key in os.environ if key.startswith("AIRFLOW_CONN_"))
    try:
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(Connection.conn_id).filter(Connection.conn_type.in_(list(DATASTORE_TYPES)))
            names.update(conn_id for (conn_id,) in rows)
    except Exception as error:  # no metadata database here: the other names still count
        log.debug("Listing datastores: no metadata database (%s)", error)
    return sorted(name for name in names if lookup(name) is not None)


def _always_there(name: str) -> bool:
    """AML's well-known datastores and ``[amlflow] default_datastore``: a local folder made on first use."""
    return name in WELL_KNOWN or name == config.get("default_datastore")


def not_found_message(name: str) -> str:
    """Azure ML's error for a datastore that is not registered, and what registered means here."""
    return (
        f"Could not find datastore: {name} (there is no Airflow connection {name!r} and no local datastore "
        f"folder {name!r} under [amlflow] local_datastore_root; register it with a Datastore.register_* "
        "method, or create that folder)"
    )


def find_connection(name: str):
    """The Airflow connection of datastore ``name`` (as written, else in lowercase), or None."""
    found = _find_connection(name)
    if found is None and name != name.lower():
        found = _find_connection(name.lower())
    return found


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
