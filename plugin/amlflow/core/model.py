"""``Model``: registered, versioned model files in the default datastore, as ``azureml.core.model.Model``.

Kept under ``amlflow-models/`` of ``[amlflow] default_datastore``'s backend, which a notebook and a step's
script reach alike (``get_backend``), so no service of its own is needed and ``Model.get_model_path``
works in a worker that has neither a workspace config nor access to Airflow's REST API:

* ``<name>/<version>/claim.json``: the version is taken (``amlflow.storage.versions.claim_version``, so two
  concurrent registrations cannot both take version N: the loser takes N+1). It stays when the version is
  deleted, so a version number is never given to another model (a cached copy of ``name:N`` stays right);
* ``<name>/<version>/files/<layout>``: the model's files, uploaded after the claim and before the record;
* ``<name>/<version>/model.json``: the record (id ``name:version``, tags, properties, description, ...),
  written last: a version whose record exists has all its files, and a version without a record (being
  registered, or whose registration failed) is invisible.

``<layout>`` is what ``get_model_path`` returns under ``azureml-models/<name>/<version>/``: the file name of
a single-file model, the folder name of a folder model. Errors use Azure ML's texts.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import getpass
import json
import logging
import os
import re
import shutil
import socket
import uuid
from typing import TYPE_CHECKING, Any

from amlflow.exceptions import ModelNotFoundException, UserErrorException, WebserviceException
from amlflow.storage.versions import claim_version

if TYPE_CHECKING:
    from amlflow.storage.base import DatastoreBackend

log = logging.getLogger(__name__)

ROOT = "amlflow-models"
RECORD = "model.json"
CLAIM = "claim.json"
FILES = "files"
#: The folder (under the current directory, or ``AML_APP_ROOT``) ``get_model_path`` downloads models to.
MODELS_DIR_NAME = "azureml-models"
#: Set where the models of a run or deployment are already on disk: ``<dir>/<name>/<version>/`` (several
#: models) or the ``.../<name>/<version>`` folder itself (one model), as Azure ML sets it.
MODEL_DIR_ENV = "AZUREML_MODEL_DIR"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}$")
_VERSION = re.compile(r"^[1-9][0-9]*$")
_NOT_ON_AMLFLOW = (
    "amlflow runs models in pipeline steps and has no web services: use Model.get_model_path(name) in the "
    "entry script of a ParallelRunStep or PythonScriptStep for batch inference instead"
)


class Model:
    """A registered model: a name, a version and its files, with Azure ML's ``Model`` API.

    ``Model(ws, name)`` looks the latest version up (``version=`` one version, ``id="name:version"``);
    ``Model.register`` uploads a file or folder as the next version; a step's script finds the files with
    ``Model.get_model_path(name)``. Attributes are a copy of the record: read them, change the model with
    ``update``, ``add_tags``, ``remove_tags`` or ``add_properties``.
    """

    class Framework:
        """Framework names (as ``Model.Framework``): stored with the model and a filter of ``Model.list``."""

        CUSTOM = "Custom"
        TENSORFLOW = "TensorFlow"
        SCIKITLEARN = "ScikitLearn"
        ONNX = "Onnx"
        TFKERAS = "TfKeras"
        PYTORCH = "PyTorch"
        MULTI = "Multi"

    def __init__(
        self,
        workspace: Any,
        name: str | None = None,
        id: str | None = None,
        tags: list | None = None,
        properties: list | None = None,
        version: int | None = None,
        run_id: str | None = None,
        model_framework: str | None = None,
        expand: bool = True,
        **kwargs: Any,
    ) -> None:
        """The registered model ``id``, or ``name`` at ``version`` (default: its latest version matching
        ``tags``, ``properties``, ``run_id`` and ``model_framework``); ``WebserviceException`` if none.

        ``tags`` and ``properties`` filter as in ``Model.list``: ``['key', ['key2', 'value2']]``.
        """
        self.workspace = workspace
        self._record: dict[str, Any] = {}
        record = kwargs.pop("_record", None)
        if record is not None:
            self._record = record
            return
        if not workspace:
            return  # Azure ML's empty model, filled by ``deserialize``
        found = _find(name, id, tags, properties, version, run_id, model_framework)
        if found is None:
            shown = {
                "name": name,
                "id": id,
                "tags": tags,
                "properties": properties,
                "version": version,
                "run_id": run_id,
                "model_framework": model_framework,
                **kwargs,
            }
            raise WebserviceException(
                "ModelNotFound: Model with "
                + ", ".join(f"{key} {value}" for key, value in shown.items() if value)
                + " not found in provided workspace"
            )
        self._record = found

    # -- what the record says ----------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The model's name, as registered."""
        return self._record.get("name")

    @property
    def version(self) -> int | None:
        """The version number registration gave it (1, 2, ...)."""
        return self._record.get("version")

    @property
    def id(self) -> str | None:
        """``<name>:<version>``, as in Azure ML."""
        return self._record.get("id")

    @property
    def tags(self) -> dict[str, str]:
        """Tags of the registered version (``add_tags``/``remove_tags`` change them)."""
        return self._record.setdefault("tags", {})

    @property
    def properties(self) -> dict[str, str]:
        """Properties of the registered version: set at registration, added to, never changed."""
        return self._record.setdefault("properties", {})

    @property
    def description(self) -> str | None:
        """The description given at registration."""
        return self._record.get("description")

    @property
    def created_time(self) -> datetime.datetime | None:
        """When the version was registered (UTC)."""
        text = self._record.get("created_time")
        return datetime.datetime.fromisoformat(text) if text else None

    @property
    def created_by(self) -> dict[str, str] | None:
        """Who registered it: ``{"userName": ...}``, the registering process's user."""
        return self._record.get("created_by")

    @property
    def model_framework(self) -> str | None:
        """``model_framework`` given at registration (``Model.Framework.SCIKITLEARN``...)."""
        return self._record.get("framework")

    @property
    def model_framework_version(self) -> str | None:
        """``model_framework_version`` given at registration."""
        return self._record.get("framework_version")

    @property
    def mime_type(self) -> str | None:
        """The MIME type kept with the version (``application/octet-stream``, as Azure ML records by default)."""
        return self._record.get("mime_type")

    @property
    def unpack(self) -> bool:
        """Always False: amlflow stores a model's files as they are, never as an archive."""
        return False

    @property
    def url(self) -> str | None:
        """Where the model is on the default datastore (its file, or its folder), e.g. ``file://...``."""
        if not self._record:
            return None
        return _backend().uri(_model_path_on_store(self._record))

    @property
    def experiment_name(self) -> str | None:
        """The experiment of the run that registered it (``Run.register_model``), else None."""
        return self._record.get("experiment_name")

    @property
    def run_id(self) -> str | None:
        """The id of the run that registered it (``Run.register_model``), else None."""
        return self._record.get("run_id")

    @property
    def run(self) -> Any:
        """None: a model registered with ``Model.register`` comes from no run."""
        return None

    @property
    def parent_id(self) -> str | None:
        """None: amlflow keeps no parent model (Azure ML's derived models come from its services)."""
        return None

    @property
    def derived_model_ids(self) -> list[str]:
        """Empty: amlflow keeps no derived models."""
        return []

    @property
    def datasets(self) -> dict[str, list[Any]]:
        """The datasets given at registration, by scenario (``{"training": [dataset]}``), looked up when read."""
        found: dict[str, list[Any]] = {}
        for reference in self._record.get("datasets") or []:
            found.setdefault(reference["name"], []).append(_dataset(self.workspace, reference["id"]))
        return found

    @property
    def sample_input_dataset(self) -> Any:
        """The dataset given as ``sample_input_dataset`` at registration, or None."""
        return _dataset(self.workspace, self._record.get("sample_input_dataset_id"))

    @property
    def sample_output_dataset(self) -> Any:
        """The dataset given as ``sample_output_dataset`` at registration, or None."""
        return _dataset(self.workspace, self._record.get("sample_output_dataset_id"))

    @property
    def resource_configuration(self) -> dict[str, Any] | None:
        """The resource configuration given at registration, as Azure ML serializes it (``cpu``,
        ``memoryInGB``, ``gpu``): kept as metadata only, since amlflow profiles no model."""
        return self._record.get("resource_configuration")

    def __repr__(self) -> str:
        return (
            f"Model(workspace={self.workspace!r}, name={self.name}, id={self.id}, version={self.version}, "
            f"tags={self.tags}, properties={self.properties})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other.id == self.id and other.id is not None

    def __hash__(self) -> int:
        return hash(self.id)

    # -- registering -------------------------------------------------------------------------------
    @staticmethod
    def register(
        workspace: Any,
        model_path: str,
        model_name: str,
        tags: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
        description: str | None = None,
        datasets: list[tuple[str, Any]] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        child_paths: list[str] | None = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
    ) -> Model:
        """Upload the file or folder ``model_path`` and register it as the next version of ``model_name``.

        With ``child_paths`` (paths relative to the folder ``model_path``) only those files and folders are
        registered, under the folder's name. ``datasets`` (``[(scenario, dataset)]``), the sample datasets
        (saved, their ids kept) and ``resource_configuration`` are stored with the model as metadata.
        """
        _check_name(model_name)
        if model_framework is None and model_framework_version is not None:
            raise WebserviceException("Model framework version cannot be provided without a valid framework")
        _check_model_path(model_path, child_paths)
        tags = _json_dict(tags, "tags", "Tags")
        properties = _json_dict(properties, "properties", "Properties")
        if model_framework == Model.Framework.TFKERAS:
            log.warning("Tfkeras will be deprecated soon. Use Model.Framework.TENSORFLOW instead.")
        _refuse_in_a_parse("register a model")
        layout, files = _collect_files(model_path, child_paths)
        record: dict[str, Any] = {
            "name": model_name,
            "tags": tags,
            "properties": properties,
            "description": description,
            "framework": model_framework,
            "framework_version": model_framework_version,
            "mime_type": "application/octet-stream",
            "datasets": _dataset_references(workspace, datasets),
            "sample_input_dataset_id": _sample_dataset_id(workspace, sample_input_dataset, "sample input dataset"),
            "sample_output_dataset_id": _sample_dataset_id(workspace, sample_output_dataset, "sample output dataset"),
            "resource_configuration": _resource_configuration(resource_configuration),
            "model_path": layout,
            "files": sorted(files),
            "created_by": {"userName": _user()},
        }
        print(f"Registering model {model_name}")
        return Model(workspace, _record=_store_new_version(record, files))

    # -- finding -----------------------------------------------------------------------------------
    @staticmethod
    def list(
        workspace: Any,
        name: str | None = None,
        tags: list | None = None,
        properties: list | None = None,
        run_id: str | None = None,
        latest: bool = False,
        dataset_id: str | None = None,
        expand: bool = True,
        page_count: int = 255,
        model_framework: str | None = None,
    ) -> list[Model]:
        """The registered models, newest first, filtered as in Azure ML.

        ``tags`` and ``properties`` are lists of ``'key'`` (the key is set) and ``['key', 'value']`` (set to
        that value); ``latest=True`` keeps the latest version of each name among those that match.
        """
        if page_count and (page_count < 20 or page_count > 255):
            raise UserErrorException(f"Expected page_count value is between 20 and 255. Provided: {page_count}")
        if tags is not None and type(tags) is not list:
            raise UserErrorException(
                f'Expected tags must be list type. Ex. ["key", ["key2", "key2 value"]]: provided {type(tags)}'
            )
        _refuse_in_a_parse("list the registered models")
        records = [
            record
            for record in _all_records(name)
            if _matches(record, tags, properties, run_id, dataset_id, model_framework)
        ]
        if latest:
            newest: dict[str, dict[str, Any]] = {}
            for record in records:
                if record["version"] > newest.get(record["name"], {}).get("version", 0):
                    newest[record["name"]] = record
            records = list(newest.values())
        records.sort(key=lambda record: (record["created_time"], record["version"]), reverse=True)
        return [Model(workspace, _record=record) for record in records]

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Any = None) -> str:
        """The local path of the model's file (a single-file model) or folder, for a step's script.

        Looked for, in this order: in ``AZUREML_MODEL_DIR`` when it holds the model; for a given
        ``version``, in ``azureml-models/<name>/<version>/`` of the current directory; else the version
        (latest by default) is downloaded there from the default datastore, once: a second call, or another
        process in the same directory, reuses it. Needs no workspace and no Airflow API, only the datastore.
        """
        if version is not None and not isinstance(version, int):
            raise WebserviceException("version should be an int")
        if model_name is None:
            raise WebserviceException("model_name is None")
        in_model_dir = _from_model_dir(model_name, version)
        if in_model_dir is not None:
            return in_model_dir
        models_dir = _models_dir()
        if version is not None:
            cached = os.path.join(models_dir, model_name, str(version))
            if os.path.isdir(cached):
                return _single_entry(cached)
        _refuse_in_a_parse("get a model's path")
        record = _find(model_name, None, None, None, version, None, None)
        if record is None:
            known = sorted(f"{found['name']}/{found['version']}" for found in _all_records(None))
            raise ModelNotFoundException(f"Model/Version {model_name}/{version} not found in workspace. {known}")
        target_dir = os.path.join(models_dir, model_name, str(record["version"]))
        path = os.path.join(target_dir, *record["model_path"].split("/"))
        if not os.path.isdir(target_dir):
            _download_once(record, target_dir)
        if not os.path.exists(path):
            items = os.listdir(target_dir)
            raise ModelNotFoundException(f"Expected model path does not exist: {path}. Found items in dir: {items}")
        return path

    def download(self, target_dir: str = ".", exist_ok: bool = False, exists_ok: bool | None = None) -> str:
        """Download the model's files into ``target_dir``; the path of the model's file or folder there.

        As in Azure ML the path returned is the files' common path: the model's folder, or its one file.
        Without ``exist_ok`` a file already there is an error, found before anything is written.
        """
        if exists_ok is not None:
            log.warning("exists_ok is deprecated. Please use exist_ok")
            exist_ok = exists_ok
        _refuse_in_a_parse("download a model")
        record = self._current()
        target_dir = os.path.normpath(target_dir)
        pairs = [(_file_on_store(record, rel), os.path.join(target_dir, *rel.split("/"))) for rel in record["files"]]
        if not exist_ok:
            for _remote, local in pairs:
                if os.path.exists(local):
                    raise WebserviceException(f"File already exists. To overwrite, set exist_ok to True. {local}")
        store = _backend()
        store.run_parallel(lambda pair: store.download_file(*pair), pairs)
        return os.path.commonpath([local for _remote, local in pairs])

    def get_sas_urls(self) -> dict[str, str]:
        """Each of the model's files (its path in the model) and where it is on the datastore."""
        store = _backend()
        return {rel: store.uri(_file_on_store(self._record, rel)) for rel in self._record.get("files", [])}

    # -- changing ----------------------------------------------------------------------------------
    def update(
        self,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
    ) -> None:
        """Replace the model's tags, description, sample datasets or resource configuration (those given)."""
        changes: dict[str, Any] = {}
        if tags:
            changes["tags"] = _json_dict(tags, "tags", "Tags")
        if description:
            changes["description"] = description
        if sample_input_dataset:
            changes["sample_input_dataset_id"] = _sample_dataset_id(
                self.workspace, sample_input_dataset, "sample input dataset"
            )
        if sample_output_dataset:
            changes["sample_output_dataset_id"] = _sample_dataset_id(
                self.workspace, sample_output_dataset, "sample output dataset"
            )
        if resource_configuration:
            changes["resource_configuration"] = _resource_configuration(resource_configuration)
        if changes:
            self._change(lambda record: record.update(changes))

    def update_tags_properties(
        self,
        add_tags: dict[str, str] | None = None,
        remove_tags: list[str] | str | None = None,
        add_properties: dict[str, str] | None = None,
    ) -> None:
        """Add and remove tags, and add properties (which, once set, can not be changed), as Azure ML."""
        if add_properties:
            _check_new_properties(self._current()["properties"], add_properties)
        if add_tags is None and remove_tags is None and add_properties is None:
            return
        if remove_tags is not None and not isinstance(remove_tags, list):
            remove_tags = [remove_tags]

        def change(record: dict[str, Any]) -> None:
            stored = record.setdefault("tags", {})
            for key, value in (add_tags or {}).items():
                if key in stored:
                    print(f"Replacing tag {key} -> {stored[key]} with {key} -> {value}")
                stored[key] = value
            for key in remove_tags or []:
                if key in stored:
                    del stored[key]
                else:
                    print(f"Tag with key {key} not found.")
            if add_properties:
                # Checked again on the fresh record: another writer may have set the key meanwhile.
                _check_new_properties(record.setdefault("properties", {}), add_properties)
                record["properties"].update(add_properties)

        self._change(change)

    def add_tags(self, tags: dict[str, str]) -> None:
        """Add (or replace) tags."""
        self.update_tags_properties(add_tags=tags)
        print("Model tag add operation complete.")

    def remove_tags(self, tags: list[str]) -> None:
        """Remove the tags of these keys."""
        self.update_tags_properties(remove_tags=tags)
        print("Model tag remove operation complete.")

    def add_properties(self, properties: dict[str, str]) -> None:
        """Add properties; a key already set is Azure ML's error (properties are immutable)."""
        self.update_tags_properties(add_properties=properties)
        print("Model properties add operation complete.")

    def add_dataset_references(self, datasets: list[tuple[str, Any]]) -> None:
        """Add ``(scenario, dataset)`` pairs to the model's datasets."""
        references = _dataset_references(self.workspace, datasets)
        self._change(lambda record: record.setdefault("datasets", []).extend(references))

    def delete(self) -> None:
        """Delete this version: its record first (so it is gone at once), then its files. Its number is
        never reused, so a copy downloaded before stays that version's."""
        _refuse_in_a_parse("delete a model")
        record = self._current()
        store = _backend()
        folder = _version_folder(record["name"], record["version"])
        store.delete(f"{folder}/{RECORD}")
        store.delete_prefix(f"{folder}/{FILES}")

    # -- what amlflow has no equivalent of ---------------------------------------------------------
    @staticmethod
    def deploy(workspace: Any, name: str, models: list[Model], *args: Any, **kwargs: Any) -> Any:
        """Not available in amlflow: models are used by pipeline steps, not deployed as web services."""
        raise UserErrorException(f"Model.deploy: {_NOT_ON_AMLFLOW}")

    @staticmethod
    def package(workspace: Any, models: list[Model], *args: Any, **kwargs: Any) -> Any:
        """Not available in amlflow (no model images): see ``deploy``."""
        raise UserErrorException(f"Model.package: {_NOT_ON_AMLFLOW}")

    @staticmethod
    def profile(workspace: Any, profile_name: str, models: list[Model], *args: Any, **kwargs: Any) -> Any:
        """Not available in amlflow (no web services to profile): see ``deploy``."""
        raise UserErrorException(f"Model.profile: {_NOT_ON_AMLFLOW}")

    # -- serialization -----------------------------------------------------------------------------
    def serialize(self) -> dict[str, Any]:
        """The model as Azure ML's JSON dictionary (``createdTime``, ``id``, ``name``, ``tags``, ...)."""
        record = self._record
        return {
            "createdTime": record.get("created_time"),
            "createdBy": record.get("created_by"),
            "description": record.get("description"),
            "id": record.get("id"),
            "mimeType": record.get("mime_type"),
            "name": record.get("name"),
            "framework": record.get("framework"),
            "frameworkVersion": record.get("framework_version"),
            "tags": dict(record.get("tags") or {}),
            "properties": dict(record.get("properties") or {}),
            "unpack": False,
            "url": self.url,
            "version": record.get("version"),
            "experimentName": record.get("experiment_name"),
            "runId": record.get("run_id"),
            "runDetails": "None",
            "datasets": list(record.get("datasets") or []),
            "resourceConfiguration": record.get("resource_configuration"),
            "sampleInputDatasetId": record.get("sample_input_dataset_id"),
            "sampleOutputDatasetId": record.get("sample_output_dataset_id"),
        }

    @staticmethod
    def deserialize(workspace: Any, model_payload: dict[str, Any]) -> Model:
        """The model that ``serialize`` described, read again from the registry (its record is the truth)."""
        return Model(workspace, id=model_payload["id"])

    # -- helpers -----------------------------------------------------------------------------------
    def _current(self) -> dict[str, Any]:
        """The stored record of this version (another process may have changed it); Azure ML's error if gone."""
        record = _read_record(self.name, self.version) if self.name and self.version else None
        if record is None:
            raise WebserviceException(
                f"ModelNotFound: Model with id {self.id} not found in provided workspace", status_code=404
            )
        return record

    def _change(self, change: Any) -> None:
        """Apply ``change`` to the stored record and write it back whole; this object then shows it."""
        _refuse_in_a_parse("change a model")
        record = self._current()
        change(record)
        _backend().write_bytes(f"{_version_folder(record['name'], record['version'])}/{RECORD}", _dump(record))
        self._record = record


# -- the registry ------------------------------------------------------------------------------------
def _backend() -> DatastoreBackend:
    """The default datastore's backend, where the models live (a notebook and a task reach it alike)."""
    from amlflow import config
    from amlflow.storage import get_backend

    return get_backend(config.get("default_datastore"))


def _refuse_in_a_parse(what: str) -> None:
    from amlflow.data.dataset_sources import refuse_in_a_parse

    refuse_in_a_parse(what, "do it in a notebook or script, or in a step's script")


def _version_folder(name: str, version: int) -> str:
    return f"{ROOT}/{name}/{version}"


def _file_on_store(record: dict[str, Any], rel: str) -> str:
    return f"{_version_folder(record['name'], record['version'])}/{FILES}/{rel}"


def _model_path_on_store(record: dict[str, Any]) -> str:
    return _file_on_store(record, record["model_path"])


def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, indent=1).encode()


def _store_new_version(record: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    """Claim the next version of ``record["name"]``, upload ``files`` (path in the model -> local file)
    under it, then write its record: only then is the version visible."""
    name = record["name"]
    store = _backend()
    claim = _dump({"host": socket.gethostname(), "pid": os.getpid(), "user": _user(), "time": _now()})
    version, _ = claim_version(
        store,
        max(_claimed_versions(name), default=0) + 1,
        lambda version: f"{_version_folder(name, version)}/{CLAIM}",
        lambda _version: claim,
        what=f'Model "{name}"',
        error=WebserviceException,
    )
    record.update(version=version, id=f"{name}:{version}")
    under = f"{_version_folder(name, version)}/{FILES}"
    try:
        store.put_files(((local, f"{under}/{rel}") for rel, local in files.items()), under, True, progress=False)
        record["created_time"] = _now()
        store.write_bytes(f"{_version_folder(name, version)}/{RECORD}", _dump(record))
    except BaseException:
        # The version stays claimed (its number is not reused) but holds nothing: drop what was uploaded.
        with contextlib.suppress(Exception):
            store.delete_prefix(under)
        raise
    return record


def _claimed_versions(name: str) -> list[int]:
    """The versions of ``name`` ever taken (registered, being registered, failed or deleted)."""
    return sorted(version for found, version, base in _entries(name) if base == CLAIM and found == name)


def _entries(name: str | None) -> list[tuple[str, int, str]]:
    """``(name, version, file)`` of every claim and record, from one listing of ``name``'s (or every) folder."""
    prefix = f"{ROOT}/{name}" if name else ROOT
    found = []
    for info in _backend().list_files(prefix):
        parts = info.path.split("/")
        if len(parts) == 4 and parts[0] == ROOT and _VERSION.match(parts[2]) and parts[3] in (CLAIM, RECORD):
            found.append((parts[1], int(parts[2]), parts[3]))
    return found


def _read_record(name: str, version: int) -> dict[str, Any] | None:
    store = _backend()
    path = f"{_version_folder(name, version)}/{RECORD}"
    if not store.exists(path):
        return None
    try:
        return json.loads(store.read_bytes(path))
    except FileNotFoundError:  # deleted between the check and the read
        return None


def _all_records(name: str | None) -> list[dict[str, Any]]:
    """Every registered version (of ``name``, if given)."""
    if name is not None and not _valid_name(name):
        return []
    records = []
    for found, version, base in _entries(name):
        if base == RECORD and (name is None or found == name):
            record = _read_record(found, version)
            if record is not None:
                records.append(record)
    return records


def _find(
    name: str | None,
    id: str | None,
    tags: Any,
    properties: Any,
    version: Any,
    run_id: str | None,
    model_framework: str | None,
) -> dict[str, Any] | None:
    """The record the constructor's arguments name: ``id``, or ``name`` at ``version``, else ``name``'s
    latest version that matches the filters; None if there is none."""
    if not id and not name:
        raise WebserviceException("Error, one of id or name must be provided.")
    if id:
        name, _, version = str(id).rpartition(":")
    elif version:
        version = str(version)
    if version:
        if not (_valid_name(name) and _VERSION.match(str(version))):
            return None
        return _read_record(name, int(version))
    matching = [
        record for record in _all_records(name) if _matches(record, tags, properties, run_id, None, model_framework)
    ]
    return max(matching, key=lambda record: record["version"], default=None)


def _matches(
    record: dict[str, Any],
    tags: Any,
    properties: Any,
    run_id: str | None,
    dataset_id: str | None,
    model_framework: str | None,
) -> bool:
    if not (_has(record.get("tags") or {}, tags) and _has(record.get("properties") or {}, properties)):
        return False
    if run_id and record.get("run_id") != run_id:
        return False
    if model_framework and record.get("framework") != model_framework:
        return False
    used = {reference["id"] for reference in record.get("datasets") or []}
    used.update(
        found for found in (record.get("sample_input_dataset_id"), record.get("sample_output_dataset_id")) if found
    )
    return not dataset_id or dataset_id in used


def _has(values: dict[str, str], wanted: Any) -> bool:
    """Azure ML's tag (and property) filter: each ``'key'`` is set, each ``['key', 'value']`` has that value."""
    for entry in wanted or []:
        if isinstance(entry, list | tuple):
            key, value = entry[0], entry[1]
            if key not in values or str(values[key]) != str(value):
                return False
        elif entry not in values:
            return False
    return True


# -- checks ------------------------------------------------------------------------------------------
def _valid_name(name: Any) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def _check_name(name: Any) -> None:
    if not _valid_name(name):
        raise WebserviceException(
            "Error, provided model name is invalid. It must only consist of letters, numbers, dashes, periods, "
            "or underscores, start with a letter or number, and be between 1 and 255 characters long."
        )


def _check_model_path(model_path: str, child_paths: list[str] | None) -> None:
    if not isinstance(model_path, str | os.PathLike) or not os.path.exists(model_path):
        raise FileNotFoundError(errno.ENOENT, "Path does not exist", model_path)
    folder = os.path.abspath(model_path)
    for child in child_paths or []:
        full = os.path.abspath(os.path.join(folder, child))
        if not os.path.exists(full):
            raise WebserviceException(f'Error, provided child path "{child}" cannot be found')
        if not full.startswith(folder + os.sep):
            # Azure ML would register it beside the model's folder; here a model is one file or one folder.
            raise WebserviceException(f'Error, provided child path "{child}" is not inside model path "{model_path}"')


def _collect_files(model_path: str, child_paths: list[str] | None) -> tuple[str, dict[str, str]]:
    """``(layout, {path in the model: local file})``: paths start with the layout (the file's or folder's name)."""
    full = os.path.abspath(os.path.normpath(model_path))
    layout = os.path.basename(full)
    if os.path.isfile(full):
        return layout, {layout: full}
    roots = [os.path.join(full, child) for child in child_paths] if child_paths else [full]
    files: dict[str, str] = {}
    for root in roots:
        root = os.path.abspath(root)
        walked = [root] if os.path.isfile(root) else _walk(root)
        for local in walked:
            rel = os.path.relpath(local, full).replace(os.sep, "/")
            files[f"{layout}/{rel}"] = local
    if not files:
        raise WebserviceException(f'Error, provided model path "{model_path}" holds no files to register')
    return layout, files


def _walk(folder: str) -> list[str]:
    return [os.path.join(where, name) for where, _dirs, names in os.walk(folder) for name in names]


def _json_dict(values: Any, what: str, title: str) -> dict[str, Any]:
    if not values:
        return {}
    if not isinstance(values, dict):
        raise WebserviceException(f"{title} must be a dict")
    try:
        return json.loads(json.dumps(values))
    except (TypeError, ValueError):
        raise WebserviceException(
            f"Error with JSON serialization for {what}, be sure they are properly formatted."
        ) from None


def _check_new_properties(current: dict[str, Any], new: dict[str, Any]) -> None:
    duplicates = [key for key in new if key in (current or {})]
    if duplicates:
        raise WebserviceException(
            "Error, properties are immutable, the following keys cannot be added/modified: " + ",".join(duplicates)
        )


# -- datasets and resource configurations, kept as metadata ------------------------------------------
def _is_dataset(value: Any) -> bool:
    from amlflow.data import FileDataset, TabularDataset

    return isinstance(value, FileDataset | TabularDataset)


def _dataset_references(workspace: Any, datasets: list[tuple[str, Any]] | None) -> list[dict[str, str]]:
    references = []
    for scenario, dataset in datasets or []:
        if not _is_dataset(dataset):
            raise WebserviceException(
                f"Invalid dataset of type {type(dataset)} passed, must be of type Dataset or DatasetSnapshot"
            )
        references.append({"name": scenario, "id": dataset._ensure_saved(workspace)})
    return references


def _sample_dataset_id(workspace: Any, dataset: Any, param_name: str) -> str | None:
    if not dataset:
        return None
    if not _is_dataset(dataset):
        raise WebserviceException(
            f"Invalid {param_name} of type {type(dataset)} passed, must be of type TabularDataset or FileDataset"
        )
    return dataset._ensure_saved(workspace)


def _dataset(workspace: Any, saved_id: str | None) -> Any:
    if not saved_id:
        return None
    from amlflow.core.dataset import Dataset

    return Dataset.get_by_id(workspace, saved_id)


def _resource_configuration(value: Any) -> dict[str, Any] | None:
    """Azure ML's ``ResourceConfiguration`` (anything with ``serialize()``), or its serialized dict."""
    if value is None:
        return None
    if hasattr(value, "serialize"):
        value = value.serialize()
    if not isinstance(value, dict) or not set(value) <= {"cpu", "memoryInGB", "gpu"}:
        raise WebserviceException(
            "resource_configuration must be a ResourceConfiguration or a dict of 'cpu', 'memoryInGB' and 'gpu' "
            f"(it is stored with the model; amlflow profiles no model): got {value!r}"
        )
    return json.loads(json.dumps(value))


# -- get_model_path ----------------------------------------------------------------------------------
def _models_dir() -> str:
    """``azureml-models`` under ``AML_APP_ROOT`` (as Azure ML), else under the current directory."""
    return os.path.join(os.environ.get("AML_APP_ROOT", ""), MODELS_DIR_NAME)


def _single_entry(folder: str) -> str:
    """The one file or folder a model's version folder holds (Azure ML's rule for a downloaded model)."""
    entries = sorted(os.listdir(folder))
    if len(entries) != 1:
        raise WebserviceException(f"Dir {folder} can contain only 1 file or folder. Found {entries}")
    return os.path.join(folder, entries[0])


def _from_model_dir(name: str, version: int | None) -> str | None:
    """The model in ``AZUREML_MODEL_DIR``, if it holds it: as ``<dir>/<name>/<version>/`` (several models,
    the latest there when no version is asked) or as the dir itself, named ``.../<name>/<version>``."""
    root = os.environ.get(MODEL_DIR_ENV)
    if not root or not os.path.isdir(root):
        return None
    several = os.path.join(root, name)
    if os.path.isdir(several):
        versions = [int(entry) for entry in os.listdir(several) if _VERSION.match(entry)]
        chosen = version if version is not None else max(versions, default=None)
        if chosen in versions:
            return _single_entry(os.path.join(several, str(chosen)))
    parent, last = os.path.split(os.path.normpath(os.path.abspath(root)))
    if os.path.basename(parent) == name and _VERSION.match(last) and version in (None, int(last)):
        return _single_entry(root)
    return None


def _download_once(record: dict[str, Any], target_dir: str) -> None:
    """Download the version into ``target_dir``: into a scratch folder beside it, then renamed into place,
    so another process of the same directory sees the whole model or nothing; if one got there first,
    its copy is kept."""
    parent = os.path.dirname(target_dir)
    os.makedirs(parent, exist_ok=True)
    # A dot-name: never a version number, so no one takes a scratch folder for a downloaded version.
    scratch = os.path.join(parent, f".partial-{uuid.uuid4().hex}")
    try:
        store = _backend()
        pairs = [(_file_on_store(record, rel), os.path.join(scratch, *rel.split("/"))) for rel in record["files"]]
        store.run_parallel(lambda pair: store.download_file(*pair), pairs)
        try:
            os.rename(scratch, target_dir)
        except OSError:
            if not os.path.isdir(target_dir):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def latest_versions() -> list[dict[str, Any]]:
    """The record of every registered model's latest version, read once per run by the step that plans it,
    so all of a run's tasks get the same versions even when one is registered meanwhile."""
    return [model._record for model in Model.list(None, latest=True)]


def stage_models(records: list[dict[str, Any]], root: str) -> str:
    """Download the model versions ``records`` (from :func:`latest_versions`) under ``root``
    (``<name>/<version>/``), each once; ``root``.

    What a step's task does before its script runs: the script gets ``AZUREML_MODEL_DIR=root`` and finds its
    models there with ``Model.get_model_path``, without the datastore's credentials, which it never holds.
    A version already under ``root`` (an earlier task on this machine) is not downloaded again.
    """
    for record in records:
        target = os.path.join(root, record["name"], str(record["version"]))
        if not os.path.isdir(target):
            _download_once(record, target)
    return root
