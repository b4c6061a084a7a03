"""Datastore backends: where a (datastore name, path) pair really lives.

``get_backend(name)`` resolves a datastore name when a task runs (never while a DAG file is parsed):
an Airflow connection of that id says what it points at; with none, the name is a local folder.
"""

from amlflow.storage.base import DatastoreBackend, FileInfo, OutputStaging
from amlflow.storage.registry import get_backend

__all__ = ["DatastoreBackend", "FileInfo", "OutputStaging", "get_backend"]
