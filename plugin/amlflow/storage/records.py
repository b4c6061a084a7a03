"""Registrations of one kind (pipeline endpoints, schedules, drafts) as JSON records in the default datastore.

Kept under ``amlflow-registry/<kind>/`` of ``[amlflow] default_datastore``'s backend, next to step outputs
and the dataset registry, so they outlive any one machine of the deployment:

* ``<kind>/by-id/<id>.json``: one record (a JSON object with an ``id``);
* ``<kind>/by-name/<sha256 of the name>.json``: ``{"id", "name"}``, created only if absent, so two
  concurrent creations can't both take one name (a name may hold any character; its hash is a path).

Only the api-server writes here (``amlflow.api``); it serializes its own read-modify-write cycles with
``RecordStore.lock``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amlflow.storage.base import DatastoreBackend

ROOT = "amlflow-registry"
_LOCKS: dict[str, threading.RLock] = {}


class RecordStore:
    """The records of one kind, by id and by unique name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.lock = _LOCKS.setdefault(kind, threading.RLock())

    @property
    def backend(self) -> DatastoreBackend:
        """The backend of the default datastore, where the records live (resolved at each use)."""
        from amlflow import config
        from amlflow.storage import get_backend

        return get_backend(config.get("default_datastore"))

    def _record_path(self, record_id: str) -> str:
        return f"{ROOT}/{self.kind}/by-id/{record_id}.json"

    def _name_path(self, name: str) -> str:
        return f"{ROOT}/{self.kind}/by-name/{hashlib.sha256(name.encode()).hexdigest()}.json"

    def get(self, record_id: str) -> dict[str, Any] | None:
        """The record ``record_id``, or None (an id that can't be a file name is no record's)."""
        if not record_id or "/" in record_id or record_id.startswith("."):
            return None
        path = self._record_path(record_id)
        backend = self.backend
        return json.loads(backend.read_bytes(path)) if backend.exists(path) else None

    def put(self, record: dict[str, Any]) -> None:
        """Write ``record`` (new or replacing the one of its id)."""
        self.backend.write_bytes(self._record_path(record["id"]), _encode(record))

    def delete(self, record_id: str) -> None:
        """Delete the record ``record_id`` (a missing one is no error)."""
        self.backend.delete(self._record_path(record_id))

    def all(self) -> list[dict[str, Any]]:
        """Every record, oldest first (by ``created``, then id)."""
        backend = self.backend
        prefix = f"{ROOT}/{self.kind}/by-id"
        records = [json.loads(backend.read_bytes(info.path)) for info in backend.list_files(prefix)]
        return sorted(records, key=lambda record: (record.get("created", ""), record["id"]))

    def id_of_name(self, name: str) -> str | None:
        """The id of the record that holds ``name``, or None."""
        path = self._name_path(name)
        backend = self.backend
        return json.loads(backend.read_bytes(path))["id"] if backend.exists(path) else None

    def claim_name(self, name: str, record_id: str) -> bool:
        """Take ``name`` for ``record_id``; False if another record holds it."""
        claimed = self.backend.create_exclusive(self._name_path(name), _encode({"id": record_id, "name": name}))
        return claimed or self.id_of_name(name) == record_id

    def release_name(self, name: str, record_id: str) -> None:
        """Give ``name`` up, if ``record_id`` holds it."""
        if self.id_of_name(name) == record_id:
            self.backend.delete(self._name_path(name))


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, indent=1).encode()
