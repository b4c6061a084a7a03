"""``GET /amlflow/datastore/v1.0/datastores/{name}``: is datastore ``name`` registered on this deployment?
``GET /amlflow/datastore/v1.0/datastores``: every datastore it can list (``ws.datastores``).

What ``Datastore.get(ws, name)`` asks from a notebook that knows only the api-server's URL. The api-server
answers with its own view of the deployment: an Airflow connection of that id from the environment, a
secrets backend or the metadata database (Airflow's ``GET /api/v2/connections/{id}`` sees the database
only, and needs permission to read connections), or a local datastore folder. The answer is the name and
Azure ML's datastore type, never a host, an account or a secret: ``{"Name": ..., "DatastoreType": ...}``;
404 with Azure ML's "Could not find datastore: <name>" otherwise.

Whoever may read DAGs may ask: the names are those the DAGs' tasks already show.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, HTTPException, status

from amlflow.api.urls import DATASTORE_SERVICE

PATH = f"{DATASTORE_SERVICE}/datastores/{{name}}"
LIST_PATH = f"{DATASTORE_SERVICE}/datastores"
DEPENDENCIES = [Depends(requires_access_dag(method="GET"))]


def get_datastore(name: str) -> dict[str, Any]:
    """The datastore ``name`` and its type, as Azure ML's datastore entity; 404 if it is not registered."""
    from amlflow.storage.registry import lookup, not_found_message

    found = lookup(name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, not_found_message(name))
    return {"Name": found[0], "DatastoreType": found[1]}


def list_datastores() -> list[dict[str, Any]]:
    """Every registered datastore and its type."""
    from amlflow.storage.registry import lookup, registered_names

    found = [lookup(name) for name in registered_names()]
    return [{"Name": name, "DatastoreType": kind} for name, kind in filter(None, found)]
