"""Pipeline endpoints: one stable name and URL in front of versions of published pipelines.

Azure ML's ``PipelineEndpoint``, kept as a record of the registry (``amlflow.storage.records``)::

    {"id", "name", "description", "status": "Active" | "Disabled", "default_version": "0",
     "versions": [{"version": "0", "pipeline_id": <DAG id>}, ...], "created"}

Versions are "0", "1", ... in the order pipelines are added, as in Azure ML. Routes (below
``/amlflow/pipelines/v1.0``): ``POST PipelineEndpoints``, ``GET PipelineEndpoints[?activeOnly=]``,
``GET PipelineEndpoints/Id/{id}``, ``GET PipelineEndpoints/Name?name=``, ``PATCH PipelineEndpoints/Id/{id}``;
runs are submitted by ``amlflow.api.app`` through :func:`resolve`.

Who may read DAGs may read endpoints; who may edit a published pipeline's DAG may put it behind an
endpoint. A submission through an endpoint is authorized as a run of the version's DAG.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.api_fastapi.common.dagbag import DagBagDep
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models import DagModel
from fastapi import Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from amlflow.api import entities
from amlflow.api.urls import SERVICE, endpoint_submit_path, request_base_url
from amlflow.storage.records import RecordStore

LIST_PATH = f"{SERVICE}/PipelineEndpoints"
BY_ID_PATH = f"{SERVICE}/PipelineEndpoints/Id/{{endpoint_id}}"
BY_NAME_PATH = f"{SERVICE}/PipelineEndpoints/Name"
READ = [Depends(requires_access_dag(method="GET"))]
WRITE = [Depends(requires_access_dag(method="PUT"))]
STORE = RecordStore("endpoints")
_NAME_TAKEN = "PipelineEndpoint already exists with the given name. Please choose a unique value."


class EndpointBody(BaseModel):
    """The body that creates a pipeline endpoint, with Azure ML's field names and limits."""

    model_config = ConfigDict(extra="forbid")

    Name: str = Field(min_length=1, max_length=250)
    Description: str | None = Field(default=None, max_length=16384)
    PipelineId: str


class EndpointChanges(BaseModel):
    """What ``set_name``, ``enable``/``disable``, ``archive``/``reactivate``, ``add``/``add_default`` and
    ``set_default_version`` change."""

    model_config = ConfigDict(extra="forbid")

    Name: str | None = Field(default=None, min_length=1, max_length=250)
    Description: str | None = Field(default=None, max_length=16384)
    Status: str | None = Field(default=None, pattern="^(Active|Disabled)$")
    PipelineId: str | None = None
    AddDefault: bool = False
    DefaultVersion: str | None = None


def endpoint_entity(record: dict[str, Any], request: Request) -> dict[str, Any]:
    """Azure ML's PipelineEndpoint entity of a record."""
    return {
        "Id": record["id"],
        "Name": record["name"],
        "Description": record.get("description"),
        "Status": record["status"],
        "DefaultVersion": record["default_version"],
        "Url": request_base_url(request) + endpoint_submit_path(record["id"]),
        "PipelineVersionList": [{"Version": v["version"], "PipelineId": v["pipeline_id"]} for v in record["versions"]],
    }


def record_of(endpoint_id: str) -> dict[str, Any]:
    """The endpoint ``endpoint_id``'s record; 404 if there is none."""
    record = STORE.get(endpoint_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"pipeline endpoint {endpoint_id!r} not found")
    return record


def record_by_name(name: str) -> dict[str, Any]:
    """The stored record of the endpoint named ``name``; 404 if there is none."""
    endpoint_id = STORE.id_of_name(name)
    record = STORE.get(endpoint_id) if endpoint_id else None
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"pipeline endpoint named {name!r} not found")
    return record


def _check_pipeline(pipeline_id: str, user: Any, session: Any) -> None:
    """404 unless ``pipeline_id`` is a published pipeline; 403 unless the caller may edit its DAG."""
    model = session.scalar(select(DagModel).where(DagModel.dag_id == pipeline_id, ~DagModel.is_stale))
    if model is None or not entities.is_published(model):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"PipelineId: published pipeline {pipeline_id!r} not found")
    if not get_auth_manager().is_authorized_dag(method="PUT", details=DagDetails(id=pipeline_id), user=user):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"Forbidden: putting {pipeline_id!r} behind an endpoint needs the right to edit it",
        )


def create_endpoint(body: EndpointBody, request: Request, user: GetUserDep, session: SessionDep) -> dict[str, Any]:
    """Create a pipeline endpoint whose version 0 (the default) is the published pipeline ``PipelineId``; 409 if the
    name is taken.
    """
    _check_pipeline(body.PipelineId, user, session)
    record = {
        "id": str(uuid.uuid4()),
        "name": body.Name,
        "description": body.Description,
        "status": "Active",
        "default_version": "0",
        "versions": [{"version": "0", "pipeline_id": body.PipelineId}],
        "created": datetime.now(UTC).isoformat(),
    }
    with STORE.lock:
        if not STORE.claim_name(body.Name, record["id"]):
            raise HTTPException(status.HTTP_409_CONFLICT, _NAME_TAKEN)
        STORE.put(record)
    return endpoint_entity(record, request)


def get_endpoint(endpoint_id: str, request: Request) -> dict[str, Any]:
    """The pipeline endpoint ``endpoint_id`` as Azure ML's entity."""
    return endpoint_entity(record_of(endpoint_id), request)


def get_endpoint_by_name(name: str, request: Request) -> dict[str, Any]:
    """The pipeline endpoint named ``name`` as Azure ML's entity."""
    return endpoint_entity(record_by_name(name), request)


def list_endpoints(request: Request, activeOnly: bool = True) -> list[dict[str, Any]]:
    """Every pipeline endpoint (only the active ones unless ``activeOnly`` is false)."""
    records = STORE.all()
    return [endpoint_entity(r, request) for r in records if not activeOnly or r["status"] == "Active"]


def update_endpoint(
    endpoint_id: str,
    changes: EndpointChanges,
    request: Request,
    user: GetUserDep,
    session: SessionDep,
    dag_bag: DagBagDep,
) -> dict[str, Any]:
    """Change an endpoint as ``PipelineEndpoint.add``, ``set_default_version``, ``set_name``, ``enable`` and
    ``disable`` do: a new version (the default with ``AddDefault``), the default version, name, description, status.
    """
    from amlflow.api import schedules

    if changes.PipelineId is not None:
        _check_pipeline(changes.PipelineId, user, session)
    with STORE.lock:
        record = record_of(endpoint_id)
        before = default_pipeline(record)
        if changes.PipelineId is not None:
            version = str(max(int(v["version"]) for v in record["versions"]) + 1)
            record["versions"].append({"version": version, "pipeline_id": changes.PipelineId})
            if changes.AddDefault:
                record["default_version"] = version
        if changes.DefaultVersion is not None:
            if not any(v["version"] == changes.DefaultVersion for v in record["versions"]):
                raise HTTPException(
                    status.HTTP_400_BAD_REQUEST,
                    f"Cannot set version {changes.DefaultVersion}, does not exist in pipeline endpoint {endpoint_id}. "
                    "Please, use add() or add_default() to add",
                )
            record["default_version"] = changes.DefaultVersion
        if changes.Name is not None and changes.Name != record["name"]:
            if not STORE.claim_name(changes.Name, endpoint_id):
                raise HTTPException(status.HTTP_409_CONFLICT, _NAME_TAKEN)
            STORE.release_name(record["name"], endpoint_id)
            record["name"] = changes.Name
        if changes.Description is not None:
            record["description"] = changes.Description
        if changes.Status is not None:
            record["status"] = changes.Status
        STORE.put(record)
    if default_pipeline(record) != before:
        schedules.follow_endpoint(record, session, dag_bag)
    return endpoint_entity(record, request)


def default_pipeline(record: dict[str, Any]) -> str:
    """The DAG id of the endpoint's default version."""
    return pipeline_of_version(record, record["default_version"])


def pipeline_of_version(record: dict[str, Any], version: str) -> str:
    """The published pipeline id of the endpoint's ``version``; 404 naming the known versions if there is no such
    version.
    """
    found = next((v["pipeline_id"] for v in record["versions"] if v["version"] == str(version)), None)
    if found is None:
        known = ", ".join(v["version"] for v in record["versions"])
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"pipelineVersion: version {version} not found in pipeline endpoint {record['name']!r} (versions: {known})",
        )
    return found


def resolve(record: dict[str, Any], version: str | None) -> str:
    """The DAG id a submission to the endpoint runs: 400 if the endpoint is disabled, 404 for an unknown version."""
    if record["status"] != "Active":
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"pipeline endpoint {record['name']!r} is {record['status']}: enable it (PipelineEndpoint.enable(), or "
            "reactivate(name) if it was archived) to submit runs",
        )
    return pipeline_of_version(record, version) if version is not None else default_pipeline(record)
