"""The dataset registry: saved definitions and named, versioned registrations, in the default datastore.

Kept under ``amlflow-datasets/`` of ``[amlflow] default_datastore``'s backend, which a notebook and a
task reach alike (``get_backend``), so no service of its own is needed:

* ``by-id/<id>.json``: a saved definition (its id is a uuid5 of the definition: saving is idempotent);
* ``by-name/<name>/<version>.json``: a registration (id, version, description, tags, created time).

Versions are 1, 2, 3...; "latest" is the highest. A version file is claimed with
``amlflow.storage.versions.claim_version``, so two concurrent registrations cannot both take version N:
the loser takes N+1. Errors use Azure ML's texts.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amlflow.data.dataset_definition import canonical_json, definition_id
from amlflow.exceptions import UserErrorException
from amlflow.storage.versions import all_versions_in, claim_version, latest_versions_in, versions_in

if TYPE_CHECKING:
    from amlflow.storage.base import DatastoreBackend

ROOT = "amlflow-datasets"
BY_ID = f"{ROOT}/by-id"
BY_NAME = f"{ROOT}/by-name"


@dataclass
class DatasetRegistration:
    """How a dataset is known to the workspace: its saved id and, when registered, its name and version."""

    workspace: Any
    saved_id: str | None
    name: str | None = None
    version: int | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_time: str | None = None


def backend() -> DatastoreBackend:
    """The default datastore's backend, where the registry lives."""
    from amlflow import config
    from amlflow.storage import get_backend

    return get_backend(config.get("default_datastore"))


_ALREADY_REGISTERED = (
    'There is already a dataset registered under name "{name}". Specify `create_new_version=True` to register '
    "the dataset as a new version. Use `update`, `add_tags`, or `remove_tags` to change only the description or tags."
)


def save_definition(definition: dict[str, Any], workspace: Any = None) -> str:
    """Save ``definition`` (once: an existing identical save is kept); its id."""
    remote = _deployment(workspace)
    if remote is not None:
        return remote.save_dataset(definition)
    saved_id = definition_id(definition)
    backend().create_exclusive(f"{BY_ID}/{saved_id}.json", canonical_json(definition).encode())
    return saved_id


def load_definition(saved_id: str, workspace: Any = None) -> dict[str, Any]:
    """The saved definition ``saved_id`` (from the deployment when there is one); Azure ML's error if there is none."""
    remote = _deployment(workspace)
    if remote is not None:
        return remote.saved_dataset(saved_id)["definition"]
    store = backend()
    path = f"{BY_ID}/{saved_id}.json"
    if not _is_id(saved_id) or not store.exists(path):
        raise UserErrorException(f'Cannot find dataset with id "{saved_id}" in the workspace.')
    return json.loads(store.read_bytes(path))


def register(
    definition: dict[str, Any],
    workspace: Any,
    name: str,
    description: str | None,
    tags: dict[str, str] | None,
    create_new_version: bool,
) -> DatasetRegistration:
    """Register ``definition`` as ``name``: version 1, or the next with ``create_new_version``.

    A name already registered with this same definition gives that registration back (nothing is
    written); with another definition and ``create_new_version=False``, Azure ML's error.
    """
    check_name(name)
    remote = _deployment(workspace)
    if remote is not None:
        answer = remote.register_dataset(definition, name, description, tags, create_new_version)
        return _registration(workspace, answer["registration"])
    saved_id = save_definition(definition)
    existing = _versions(name)
    for version in sorted(existing, reverse=True):
        record = _read_record(name, version)
        if record["id"] == saved_id:
            return _registration(workspace, record)
    if existing and not create_new_version:
        raise UserErrorException(_ALREADY_REGISTERED.format(name=name))
    record = {
        "name": name,
        "id": saved_id,
        "description": description,
        "tags": dict(tags or {}),
        "created_time": datetime.datetime.now(datetime.UTC).isoformat(),
    }

    def payload(version: int) -> bytes:
        record["version"] = version
        return json.dumps(record, sort_keys=True).encode()

    def same_or_conflict(version: int) -> dict[str, Any] | None:
        # Another registration took this version a moment ago: the same dataset is that registration,
        # another one is Azure ML's conflict unless a new version was asked for.
        taken = _read_record(name, version)
        if taken["id"] == saved_id:
            return taken
        if not create_new_version:
            raise UserErrorException(_ALREADY_REGISTERED.format(name=name))
        return None

    _, taken = claim_version(
        backend(),
        max(existing, default=0) + 1,
        lambda version: _record_path(name, version),
        payload,
        what=f'Dataset "{name}"',
        on_taken=same_or_conflict,
    )
    return _registration(workspace, record if taken is None else taken)


def get_by_name(workspace: Any, name: str, version: Any = "latest") -> tuple[dict[str, Any], DatasetRegistration]:
    """``(definition, registration)`` of ``name`` at ``version`` (a number, or "latest")."""
    remote = _deployment(workspace)
    if remote is not None:
        answer = remote.registered_dataset(name, version)
        return answer["definition"], _registration(workspace, answer["registration"])
    if version != "latest" and version is not None:
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise UserErrorException(
                f'Invalid value {version} for version. Version value must be number or "latest".'
            ) from None
    else:
        version = None
    versions = _versions(name) if _name_problem(name) is None else []
    if version is None:
        version = max(versions, default=None)
    if version is None or version not in versions:
        shown = "" if version is None else f" (version: {version})"
        raise UserErrorException(f'Cannot find dataset registered with name "{name}"{shown} in the workspace.')
    record = _read_record(name, version)
    return load_definition(record["id"]), _registration(workspace, record)


def registration_of_id(workspace: Any, saved_id: str) -> DatasetRegistration:
    """The registration of a saved id: its latest registered name and version if it has any, else just the id."""
    remote = _deployment(workspace)
    if remote is not None:
        return _registration(workspace, remote.saved_dataset(saved_id)["registration"])
    found: dict[str, Any] | None = None
    for name, version in _all_versions():
        record = _read_record(name, version)
        if record["id"] == saved_id and (found is None or record["created_time"] > found["created_time"]):
            found = record
    if found is None:
        return DatasetRegistration(workspace, saved_id)
    return _registration(workspace, found)


def get_all(workspace: Any) -> dict[str, tuple[dict[str, Any], DatasetRegistration]]:
    """Every registered name's latest version, by name."""
    remote = _deployment(workspace)
    if remote is not None:
        return {
            name: (entry["definition"], _registration(workspace, entry["registration"]))
            for name, entry in remote.registered_datasets().items()
        }
    return {
        name: (load_definition(record["id"]), _registration(workspace, record))
        for name, record in sorted(_latest_records().items())
    }


def check_name(name: Any) -> None:
    """Raise Azure ML's ``UserErrorException`` if ``name`` is no valid dataset name."""
    problem = _name_problem(name)
    if problem:
        raise UserErrorException(f"Dataset name {name!r} {problem}")


def _name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "must be a non-empty string"
    if name in (".", "..") or any(char in name for char in "/\\") or any(ord(char) < 32 for char in name):
        return "may not be '.' or '..' nor contain '/', '\\' or control characters"
    if len(name) > 250:
        return "is longer than 250 characters"
    return None


def _is_id(text: Any) -> bool:
    return isinstance(text, str) and re.fullmatch(r"[0-9a-fA-F-]{36}", text) is not None


def _record_path(name: str, version: int) -> str:
    return f"{BY_NAME}/{name}/{version}.json"


def _versions(name: str) -> list[int]:
    return versions_in(backend(), f"{BY_NAME}/{name}")


def _read_record(name: str, version: int) -> dict[str, Any]:
    return json.loads(backend().read_bytes(_record_path(name, version)))


def _all_versions() -> list[tuple[str, int]]:
    return all_versions_in(backend(), BY_NAME)


def _latest_records() -> dict[str, dict[str, Any]]:
    latest = latest_versions_in(backend(), BY_NAME)
    return {name: _read_record(name, version) for name, version in latest.items()}


def _deployment(workspace: Any) -> Any:
    """The api-server's client when ``workspace`` is a notebook's view of a deployment (it has an ``api_url``);
    None on a machine of the deployment, which reads the registry in the default datastore itself."""
    from amlflow.api.urls import explicit_api_url

    if workspace is None or not explicit_api_url(workspace):
        return None
    from amlflow.client import client_for

    return client_for(workspace)


def registration_record(registration: DatasetRegistration) -> dict[str, Any]:
    """What the registry stores of a registration (and the api-server answers): id, name, version, ...."""
    return {
        "id": registration.saved_id,
        "name": registration.name,
        "version": registration.version,
        "description": registration.description,
        "tags": dict(registration.tags or {}),
        "created_time": registration.created_time,
    }


def _registration(workspace: Any, record: dict[str, Any]) -> DatasetRegistration:
    return DatasetRegistration(
        workspace,
        record["id"],
        record.get("name"),
        record.get("version"),
        record.get("description"),
        dict(record.get("tags") or {}),
        record.get("created_time"),
    )
