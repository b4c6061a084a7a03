"""Step inputs: from an input spec to a local path the script can read."""

from __future__ import annotations

import logging
import os
from typing import Any

from amlflow import config
from amlflow.exceptions import StepFailedError
from amlflow.runtime import run_conf
from amlflow.runtime.compute_paths import input_path
from amlflow.runtime.dataset_inputs import StagedDataset, chosen_dataset, stage_dataset
from amlflow.storage import DatastoreBackend, get_backend
from amlflow.storage.location import DataLocation

log = logging.getLogger(__name__)


def locate_input(spec: dict[str, Any], ti: Any) -> Any:
    """Where an input's data is: a committed upstream output, a (datastore, path) reference, or a dataset."""
    if spec["kind"] == "Dataset":
        context = ti.get_template_context()
        allowed = run_conf.assignable_datastores(context["dag"].params, config.get("default_datastore"))
        return chosen_dataset(spec, context["dag_run"].conf, allowed)
    if spec["kind"] == "PipelineData":
        value = ti.xcom_pull(task_ids=spec["task_id"], key=spec["output"])
        if not DataLocation.is_xcom(value):
            raise StepFailedError(
                f"input {spec['name']!r}: step {spec['task_id']!r} left no output {spec['output']!r} in this run"
            )
        return DataLocation.from_xcom(value)
    assigned = run_conf.data_path(ti.get_template_context()["dag_run"].conf, spec["name"])
    if assigned is not None:
        log.info("Input %s: this run reads datastore %r, path %r (DataPathAssignments)", spec["name"], *assigned)
        return assigned
    return spec["datastore"], spec["path"]


def resolve_input(spec: dict[str, Any], where: DataLocation | tuple[str, str]) -> tuple[DatastoreBackend, str]:
    """The backend and path of an input, checked: a committed output (matching manifest), or existing data."""
    if isinstance(where, DataLocation):
        backend, path = get_backend(where.datastore), where.path
        manifest = backend.read_manifest(path)
        if manifest is None or manifest.fingerprint != where.fingerprint:
            raise StepFailedError(
                f"input {spec['name']!r}: output {where.uri} is not committed (no matching manifest); "
                "it will not be read"
            )
        return backend, path
    datastore, path = where
    backend = get_backend(datastore)
    if not backend.exists(path):
        raise StepFailedError(f"input {spec['name']!r}: nothing at {backend.uri(path)} (datastore {datastore!r})")
    return backend, path


def stage_input(spec: dict[str, Any], where: DataLocation | tuple[str, str], workdir: str) -> str:
    """A local path holding the input: in place when the datastore allows it, else downloaded.

    A DataReference in ``upload`` mode is the other way round: an empty local folder the script fills,
    uploaded after it succeeds (``StagedOutputs``).
    """
    if spec.get("mode") == "upload":
        local = input_path(workdir, spec, "uploads")
        os.makedirs(local, exist_ok=True)
        log.info("Input %s: %s is uploaded after the script succeeds", spec["name"], local)
        return local
    backend, path = resolve_input(spec, where)
    if spec.get("mode") == "download":
        target = input_path(workdir, spec, "inputs")
        local = backend.materialize(path, target)
        log.info("Input %s: downloaded %s to %s", spec["name"], backend.uri(path), local)
        return local
    local = backend.materialize(
        path, None if backend.local_path(path) else os.path.join(workdir, "mounts", spec["name"])
    )
    log.info("Input %s: %s at %s", spec["name"], backend.uri(path), local)
    return local


def stage_inputs(
    located: list[tuple[dict[str, Any], Any]], workdir: str
) -> tuple[dict[str, StagedDataset], dict[str, str]]:
    """Every located input made ready in ``workdir``: the staged datasets, and each input's argv value by name."""
    datasets = {
        spec["name"]: stage_dataset(spec, where, workdir) for spec, where in located if spec["kind"] == "Dataset"
    }
    paths = {name: staged.argument for name, staged in datasets.items()}
    paths.update(
        (spec["name"], stage_input(spec, where, workdir)) for spec, where in located if spec["kind"] != "Dataset"
    )
    return datasets, paths
