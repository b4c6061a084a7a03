"""``GET /amlflow/compute/v1.0/computes[/{name}]``: the compute targets this deployment has.

What ``ComputeTarget(ws, name)``, ``AmlCompute(ws, name)`` and ``ws.compute_targets`` ask from a notebook,
as Azure ML's samples do before they create or attach a target ("found existing compute target"). A
deployment has a target when it has what the target is here:

- a pool that ``amlflow pools sync`` (or a pipeline sent from a notebook) made for it: its description
  names the target's type, its slots are ``max_nodes``;
- an Airflow connection of type ``databricks`` (a DatabricksCompute) or ``amlflow_adla`` (an AdlaCompute).

The answer is ``{"Name", "ComputeType", "MaxNodes"}``, never a host or a secret; 404 with Azure ML's
"ComputeTargetNotFound" otherwise. Whoever may read DAGs may ask.
"""

from __future__ import annotations

import re
from typing import Any

from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, HTTPException, status

from amlflow.api.urls import COMPUTE_SERVICE

PATH = f"{COMPUTE_SERVICE}/computes/{{name}}"
LIST_PATH = f"{COMPUTE_SERVICE}/computes"
DEPENDENCIES = [Depends(requires_access_dag(method="GET"))]
#: Connection type -> Azure ML's compute type of the target it makes.
CONNECTION_COMPUTES = {"databricks": "Databricks", "amlflow_adla": "DataLakeAnalytics"}
_POOL_KIND = re.compile(r"^amlflow compute target \S+ \((\w+)\)$")


def not_found(name: str) -> str:
    """Azure ML's message for a compute target the deployment does not have."""
    return f"ComputeTargetNotFound: Compute Target with name {name} not found in provided workspace"


def get_compute(name: str) -> dict[str, Any]:
    """The compute target ``name`` (a pool, else a connection) as an entity; 404 if there is none."""
    found = _pool_target(name) or _connection_target(name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, not_found(name))
    return found


def list_computes() -> list[dict[str, Any]]:
    """Every compute target backed by an amlflow pool, sorted by name."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        names = [pool.pool for pool in session.query(Pool) if _POOL_KIND.match(pool.description or "")]
    found = [_pool_target(name) for name in names]
    return sorted(filter(None, found), key=lambda target: target["Name"])


def _pool_target(name: str) -> dict[str, Any] | None:
    from airflow.models.pool import Pool

    pool = Pool.get_pool(name)
    match = _POOL_KIND.match(pool.description or "") if pool is not None else None
    if match is None:
        return None
    return {"Name": name, "ComputeType": match.group(1), "MaxNodes": pool.slots}


def _connection_target(name: str) -> dict[str, Any] | None:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        connection = Connection.get_connection_from_secrets(name)
    except AirflowNotFoundException:
        return None
    kind = CONNECTION_COMPUTES.get(connection.conn_type)
    return {"Name": name, "ComputeType": kind, "MaxNodes": None} if kind else None
