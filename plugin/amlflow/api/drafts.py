"""Pipeline drafts: a pipeline's definition kept to be changed, run and published later; never a DAG.

Azure ML's ``PipelineDraft``, kept as a record of the registry (``amlflow.storage.records``), outside the
pipeline bundle, so the dag-processor never parses it::

    {"id", "name", "description", "experiment_name", "definition": <the pipeline's YAML, its code as
     snapshots of the bundle>, "submission": {ParameterAssignments...}, "continue_on_step_failure",
     "tags", "properties", "parent_pipeline_id", "parent_pipeline_run_id", "parent_pipeline_draft_id",
     "last_submitted_pipeline_run_id", "created"}

A draft is run or published by the client (``amlflow.pipeline.core.pipeline_draft``), which sends its
definition as any notebook's pipeline is sent. Routes (below ``/amlflow/pipelines/v1.0``): ``POST
PipelineDrafts``, ``GET PipelineDrafts``, ``GET``/``PATCH``/``DELETE PipelineDrafts/{id}``. A draft holds
code that runs when it is submitted: writing one needs the rights ``requires_deploy`` asks for.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import yaml
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from amlflow.api import pipelines
from amlflow.api.urls import SERVICE
from amlflow.bundles import layout
from amlflow.storage.records import RecordStore

LIST_PATH = f"{SERVICE}/PipelineDrafts"
ONE_PATH = f"{SERVICE}/PipelineDrafts/{{draft_id}}"
READ = [Depends(requires_access_dag(method="GET"))]
WRITE = [Depends(pipelines.requires_deploy)]
STORE = RecordStore("drafts")


class DraftChanges(BaseModel):
    """What ``PipelineDraft.update`` changes (and what a submitted run records)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=250)
    description: str | None = Field(default=None, max_length=16384)
    experiment_name: str | None = None
    definition: str | None = Field(default=None, max_length=1024 * 1024)
    submission: dict[str, Any] | None = None
    continue_on_step_failure: bool | None = None
    tags: dict[str, str] | None = None
    last_submitted_pipeline_run_id: str | None = None


class DraftBody(DraftChanges):
    """What ``PipelineDraft.create`` sends."""

    name: str = Field(min_length=1, max_length=250)
    experiment_name: str
    definition: str = Field(max_length=1024 * 1024)
    properties: dict[str, str] | None = None
    parent_pipeline_id: str | None = None
    parent_pipeline_run_id: str | None = None
    parent_pipeline_draft_id: str | None = None


def _record(draft_id: str) -> dict[str, Any]:
    record = STORE.get(draft_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"pipeline draft {draft_id!r} not found")
    return record


def _check_definition(text: str) -> None:
    """400 unless ``text`` is a pipeline definition whose code is in the bundle."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"definition: not YAML ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("steps"), list):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "definition: must be a pipeline definition with steps")
    store = pipelines.pipeline_store()
    for content_hash in sorted(set(layout.SNAPSHOT_REFERENCE_IN_TEXT.findall(text))):
        if not store.has_snapshot(content_hash):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"definition: snapshot {content_hash} was not uploaded")


def create_draft(body: DraftBody) -> dict[str, Any]:
    """Store a new pipeline draft once its definition checks; answers the record with its new id."""
    _check_definition(body.definition)
    record = {
        **body.model_dump(),
        "id": str(uuid.uuid4()),
        "tags": body.tags or {},
        "properties": body.properties or {},
        "created": datetime.now(UTC).isoformat(),
    }
    STORE.put(record)
    return record


def get_draft(draft_id: str) -> dict[str, Any]:
    """The draft ``draft_id``; 404 if there is none."""
    return _record(draft_id)


def list_drafts() -> list[dict[str, Any]]:
    """Every stored draft."""
    return STORE.all()


def update_draft(draft_id: str, changes: DraftChanges) -> dict[str, Any]:
    """Apply the given (non-null) fields to the draft ``draft_id``, checking a new definition first."""
    given = changes.model_dump(exclude_unset=True, exclude_none=True)
    if "definition" in given:
        _check_definition(given["definition"])
    with STORE.lock:
        record = _record(draft_id)
        record.update(given)
        STORE.put(record)
    return record


def delete_draft(draft_id: str) -> None:
    """Delete the draft ``draft_id``; 404 if there is none."""
    _record(draft_id)
    STORE.delete(draft_id)
