"""``/amlflow/dataset/v1.0``: the dataset registry, as a notebook reaches it (``amlflow.data.dataset_registry``).

The registry lives in the default datastore; a notebook saves, registers and looks up datasets here, so
it needs no write access to that datastore and every registration passes Airflow's authorization: who may
read DAGs may look up, who may edit DAGs may save and register. The answers are a dataset's definition
and its registration record (``{"id", "name", "version", "description", "tags", "created_time"}``); an
error is Azure ML's message (404 for what is not there, 400 for a registration it refuses).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict

from amlflow.api.urls import DATASET_SERVICE
from amlflow.data import dataset_registry
from amlflow.data.dataset_definition import checked_definition
from amlflow.exceptions import UserErrorException

REGISTERED_PATH = f"{DATASET_SERVICE}/datasets/{{name}}"
LIST_PATH = f"{DATASET_SERVICE}/datasets"
SAVED_PATH = f"{DATASET_SERVICE}/saved/{{saved_id}}"
SAVE_PATH = f"{DATASET_SERVICE}/saved"
READ = [Depends(requires_access_dag(method="GET"))]
WRITE = [Depends(requires_access_dag(method="PUT"))]


class SaveBody(BaseModel):
    """The body of a save: a dataset's definition, nothing else."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]


class RegisterBody(SaveBody):
    """The body of a registration: the definition and what ``Dataset.register`` was given."""

    name: str
    description: str | None = None
    tags: dict[str, str] | None = None
    create_new_version: bool = False


def get_registered(name: str, version: str = "latest") -> dict[str, Any]:
    """The dataset registered as ``name`` (``version``: a number or ``latest``) with its registration; 404 if there is
    none.
    """
    with _refused(status.HTTP_404_NOT_FOUND):
        definition, registration = dataset_registry.get_by_name(None, name, version)
    return {"definition": definition, "registration": dataset_registry.registration_record(registration)}


def list_registered() -> dict[str, Any]:
    """Every registered dataset's latest version, by name."""
    return {
        name: {"definition": definition, "registration": dataset_registry.registration_record(registration)}
        for name, (definition, registration) in dataset_registry.get_all(None).items()
    }


def get_saved(saved_id: str) -> dict[str, Any]:
    """The saved definition ``saved_id`` with its registration (just the id while it is not registered); 404 if none."""
    with _refused(status.HTTP_404_NOT_FOUND):
        definition = dataset_registry.load_definition(saved_id)
    registration = dataset_registry.registration_of_id(None, saved_id)
    return {"definition": definition, "registration": dataset_registry.registration_record(registration)}


def save(body: SaveBody) -> dict[str, Any]:
    """Save a dataset's definition without registering it; answers its id (400 if the definition is refused)."""
    with _refused(status.HTTP_400_BAD_REQUEST):
        return {"id": dataset_registry.save_definition(_sent_definition(body.definition))}


def register(body: RegisterBody) -> dict[str, Any]:
    """Register a dataset's definition under ``name``, as ``Dataset.register`` does; 400 if the registry refuses it."""
    with _refused(status.HTTP_400_BAD_REQUEST):
        registration = dataset_registry.register(
            _sent_definition(body.definition), None, body.name, body.description, body.tags, body.create_new_version
        )
    return {"registration": dataset_registry.registration_record(registration)}


def _sent_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """A definition a notebook sent, checked; it may not name files of the deployment's machines."""
    checked = checked_definition(definition)
    if any("local" in source for source in checked["sources"]):
        raise UserErrorException(
            "A dataset saved in the workspace may not read local files of a machine: upload them "
            "(Datastore.upload) and make the dataset from (datastore, path)"
        )
    return checked


@contextlib.contextmanager
def _refused(code: int) -> Iterator[None]:
    """Azure ML's error of the registry as an HTTP error of ``code``, its message unchanged."""
    try:
        yield
    except UserErrorException as error:
        raise HTTPException(code, str(error)) from None
