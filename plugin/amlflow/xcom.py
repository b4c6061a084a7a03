"""``PipelineDataXComBackend``: the XCom backend that keeps data out of the metadata database.

Set ``[core] xcom_backend = amlflow.xcom.PipelineDataXComBackend``. Every Airflow component imports
this module at start-up, so it imports nothing heavy at module level.

- A step output's XCom value is a small ``DataLocation`` (datastore, path, uri, fingerprint): kept as is.
- Any other value whose JSON exceeds ``[amlflow] xcom_offload_threshold`` bytes is written to the
  default datastore and replaced by a reference to it (``-1`` keeps everything in the database).
- ``purge`` (called when a try's XComs are cleared) deletes offloaded values, never a step output.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from airflow.sdk.bases.xcom import BaseXCom

from amlflow.storage.location import MARKER, run_path

OFFLOADED = "XComValue"


class PipelineDataXComBackend(BaseXCom):
    """The XCom backend that offloads large values to the default datastore (see the module docstring)."""

    @staticmethod
    def serialize_value(
        value: Any,
        *,
        key: str | None = None,
        task_id: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
    ) -> Any:
        """Airflow's serialization; a value whose JSON exceeds ``[amlflow] xcom_offload_threshold`` bytes is written to
        the default datastore and replaced by a reference to it (DataLocations stay as they are).
        """
        serialized = BaseXCom.serialize_value(value)
        if isinstance(value, dict) and MARKER in value:
            return serialized
        from amlflow import config

        threshold = config.get_int("xcom_offload_threshold")
        data = json.dumps(serialized).encode()
        if threshold < 0 or len(data) <= threshold:
            return serialized
        return _offload(data, dag_id or "", run_id or "", task_id or "", key or "", map_index)

    @staticmethod
    def deserialize_value(result: Any) -> Any:
        """Airflow's deserialization, reading an offloaded value back from its datastore first."""
        stored = result.value
        if isinstance(stored, dict) and stored.get(MARKER) == OFFLOADED:
            from amlflow.storage import get_backend

            stored = json.loads(get_backend(stored["datastore"]).read_bytes(stored["path"]))
        return BaseXCom.deserialize_value(_Value(stored))

    @classmethod
    def purge(cls, xcom: Any, *args: Any) -> None:
        """Delete an offloaded value's file as Airflow clears its XCom; a step output is never deleted."""
        stored = getattr(xcom, "value", None)
        if isinstance(stored, dict) and stored.get(MARKER) == OFFLOADED:
            from amlflow.storage import get_backend

            get_backend(stored["datastore"]).delete(stored["path"])


class _Value:
    """What ``BaseXCom.deserialize_value`` reads: an object with ``.value``."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _offload(data: bytes, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None) -> dict:
    from amlflow import config
    from amlflow.storage import get_backend

    datastore = config.get("default_datastore")
    backend = get_backend(datastore)
    index = "" if map_index in (None, -1) else f"{map_index}-"
    path = f"{run_path(dag_id, run_id)}/{task_id}/xcom/{index}{key}-{uuid.uuid4().hex}.json"
    backend.write_bytes(path, data)
    return {
        MARKER: OFFLOADED,
        "datastore": datastore,
        "path": path,
        "uri": backend.uri(path),
        "size": len(data),
    }
