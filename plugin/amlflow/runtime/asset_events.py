"""What a step's asset events say: the run's own location of each output, and what it was registered as.

Airflow emits one event per outlet when the task succeeds (none when it fails); the task fills in each
event's ``extra`` here, so an event names the files of that run, not only the asset's URI.
"""

from __future__ import annotations

from typing import Any

from amlflow import config
from amlflow.factory.assets import dataset_uri, output_asset_uri
from amlflow.storage.location import DataLocation


def describe_outputs(
    context: Any,
    specs: list[dict[str, Any]],
    committed: dict[str, DataLocation],
    registered: dict[str, Any] | None = None,
    reused_from: str | None = None,
) -> None:
    """Set the ``extra`` of the events of the step's outputs (and of the datasets they were registered as)."""
    from airflow.sdk import Asset

    ti = context["ti"]
    events = context["outlet_events"]
    default = config.get("default_datastore")
    for spec in specs:
        location = committed[spec["name"]]
        extra = {
            "uri": location.uri,
            "datastore": location.datastore,
            "path": location.path,
            "files": location.files,
            "bytes": location.size,
            "fingerprint": location.fingerprint,
            "run_id": ti.run_id,
        }
        if reused_from:
            extra["reused_from"] = reused_from
        events[Asset(output_asset_uri(ti.dag_id, ti.task_id, spec, default))].extra = extra
        registration = (registered or {}).get(spec["name"])
        if registration is not None:
            events[Asset(dataset_uri(registration.name))].extra = {
                "name": registration.name,
                "version": registration.version,
                "id": registration.saved_id,
                "uri": location.uri,
            }
