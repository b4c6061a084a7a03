"""Dataset inputs of a step: which dataset a run reads, what it holds, and how its script receives it.

A run reads the dataset of the input's spec unless it assigned its parameter another (a saved dataset
by id, a registered one by name and version: the run conf's ``amlflow.datasets``, which the AML
endpoint fills from ``DataSetDefinitionValueAssignments``). The script gets, as Azure ML gives them,
the local path of the files (``mount``, ``download``; the file itself for a dataset of one file) or,
``direct``, the dataset itself in ``Run.get_context().input_datasets``: a copy whose files the task has
downloaded, so the script reads it without the datastore's credentials, which it never holds.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from amlflow.core.run import INPUT_DATASETS_ENV
from amlflow.data.dataset_reference import DatasetReference
from amlflow.data.dataset_sources import listing_prefix
from amlflow.data.dataset_values import dataset_from_value, dataset_value
from amlflow.exceptions import StepFailedError
from amlflow.runtime import run_conf
from amlflow.runtime.compute_paths import input_path
from amlflow.runtime.fingerprint import digest
from amlflow.storage import get_backend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedDataset:
    """A dataset input made ready: its argv value, and what ``Run.input_datasets`` holds for it."""

    argument: str
    entry: dict[str, Any]


def dataset_for_choice(choice: dict[str, Any]) -> Any:
    """The saved (``{"id"}``) or registered (``{"name", "version"}``) dataset a run chose."""
    from amlflow.core.dataset import Dataset

    if "id" in choice:
        return Dataset.get_by_id(None, choice["id"])
    return Dataset.get_by_name(None, choice["name"], choice.get("version", "latest"))


def given_dataset_problem(dataset: Any, allowed: list[str]) -> str | None:
    """Why a run may not read ``dataset``, given for a parameter, or None.

    A run's request names a dataset by id or name, so its sources are whatever was saved: they may not
    read a worker's files, nor a datastore the pipeline does not use (the rule of ``DataPathAssignments``).
    """
    for source in dataset.definition.get("sources", []):
        if "local" in source:
            return "it reads files of the worker itself (a 'local' source), which a dataset given to a run may not"
        if "datastore" in source and source["datastore"] not in allowed:
            return (
                f"it reads datastore {source['datastore']!r}; a run may read only the datastores the pipeline "
                f"declares ({', '.join(allowed)}) and those of [amlflow] assignable_datastores"
            )
    return None


def chosen_dataset(spec: dict[str, Any], conf: dict[str, Any] | None, allowed: list[str] | None = None) -> Any:
    """The dataset this run reads for the input ``spec``; one the run chose must read only ``allowed`` datastores."""
    choice = run_conf.dataset_choice(conf, spec["parameter"]) if spec.get("parameter") else None
    if choice is not None:
        log.info("Input %s: this run reads dataset %s (parameter %s)", spec["name"], choice, spec["parameter"])
        dataset = dataset_for_choice(choice)
        problem = given_dataset_problem(dataset, allowed or [])
        if problem:
            raise StepFailedError(f"input {spec['name']!r}: dataset {choice} can not be read by this run: {problem}")
        return _checked_mode(spec, dataset)
    dataset = dataset_from_value(spec["dataset"])
    if isinstance(dataset, DatasetReference):  # named in a DAG file, looked up now
        dataset = dataset.resolve()
        log.info("Input %s: dataset %r is version %s (id %s)", spec["name"], dataset.name, dataset.version, dataset.id)
    return _checked_mode(spec, dataset)


def _checked_mode(spec: dict[str, Any], dataset: Any) -> Any:
    from amlflow.data.tabular_dataset import TabularDataset

    if isinstance(dataset, TabularDataset) and spec["mode"] != "direct":
        raise StepFailedError(
            f"input {spec['name']!r}: dataset {dataset.name or dataset.id!r} is a TabularDataset, which can not be "
            f"given in {spec['mode']} mode; only a FileDataset can (use as_named_input(...) alone: direct mode)"
        )
    return dataset


def dataset_content(dataset: Any) -> str:
    """What a dataset holds, for the step's fingerprint: its definition and the listing of its datastore files."""
    listings = []
    for source in dataset.definition["sources"]:
        if "datastore" in source:
            prefix = listing_prefix(source["path"])
            files = get_backend(source["datastore"]).list_files(prefix)
            listings.append([[info.path, info.size, info.tag] for info in files])
    return digest([dataset.definition, listings])


def stage_dataset(spec: dict[str, Any], dataset: Any, workdir: str) -> StagedDataset:
    """The dataset's files on local disk, as the input's mode gives them to the script."""
    where = input_path(workdir, spec, "datasets")
    value = dataset_value(dataset)
    which = {key: item for key, item in value.items() if key != "definition"} or "(unsaved)"
    if spec["mode"] == "direct":
        local = dataset.localized(where)
        log.info("Input %s: dataset %s, its files downloaded to %s", spec["name"], which, where)
        return StagedDataset(str(dataset.id or spec["name"]), {**value, "definition": local.definition})
    paths = dataset.download(where, overwrite=True)
    path = paths[0] if dataset.is_single_file() and len(paths) == 1 else where
    log.info("Input %s: dataset %s, %d file(s) at %s", spec["name"], which, len(paths), path)
    return StagedDataset(path, {"path": path})


def dataset_environment(staged: dict[str, StagedDataset]) -> dict[str, str]:
    """The script's ``AMLFLOW_INPUT_DATASETS`` variable (none when the step reads no dataset)."""
    if not staged:
        return {}
    return {INPUT_DATASETS_ENV: json.dumps({name: item.entry for name, item in staged.items()})}
