"""``Pipeline`` -> the YAML definition the loader reads: how a notebook's pipeline reaches a deployment.

``Experiment.submit(pipeline)`` and ``pipeline.publish()`` outside a DAG file send the pipeline to the
api-server as the same YAML a person could have written (README "YAML pipelines"), so there is one
serialized form and one loader. Each step becomes its kind plus the constructor arguments the caller
gave (``PipelineStep.constructor_arguments``); the objects among them become declarations
(``data_references``, ``pipeline_data``, ``parameters``, ``computes``) and ``$kind.name`` references,
and every ``source_directory`` becomes the folder of its content-addressed snapshot in the bundle.

What YAML can not say fails here, naming the step and field, before anything is uploaded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import yaml

from amlflow.core.compute import COMPUTE_KINDS, ComputeTarget
from amlflow.core.databricks import LIBRARY_PARAMETERS, library_fields
from amlflow.core.datastore import Datastore
from amlflow.core.runconfig import RunConfiguration
from amlflow.data.abstract_dataset import AbstractDataset
from amlflow.data.data_reference import DataReference
from amlflow.data.datapath import datapath_input_reference, is_datapath_input
from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
from amlflow.data.dataset_reference import DatasetReference
from amlflow.data.dataset_values import dataset_value
from amlflow.data.output_dataset_config import OutputFileDatasetConfig
from amlflow.data.sql_data_reference import SqlDataReference
from amlflow.exceptions import UserErrorException
from amlflow.factory.runconfig_spec import environment_spec, runconfig_spec
from amlflow.factory.yaml_kinds import step_kinds
from amlflow.factory.yaml_schema import COMPUTE_FIELDS, REFERENCE_PATTERN
from amlflow.pipeline.core.builder import InputPortBinding, PipelineData, PipelineStep
from amlflow.pipeline.core.graph import PipelineParameter
from amlflow.pipeline.core.pipeline import Pipeline
from amlflow.pipeline.steps.parallel_run_config import ParallelRunConfig
from amlflow.pipeline.steps.parallel_run_step import ParallelRunStep

_REFERENCE = re.compile(REFERENCE_PATTERN)
#: the Databricks library classes (JarLibrary...): each is written as the mapping of its fields
_LIBRARIES = tuple(LIBRARY_PARAMETERS.values())
#: PipelineData constructor fields, with the value that need not be written.
_PIPELINE_DATA_FIELDS = {
    "output_mode": "mount",
    "output_path_on_compute": None,
    "output_overwrite": None,
    "data_type": None,
    "is_directory": None,
    "pipeline_output_name": None,
}


class DefinitionNotWritable(UserErrorException):
    """A pipeline holds something its YAML definition can not carry; the message names step and field."""


def pipeline_document(
    pipeline: Pipeline,
    source_directory: Callable[[str], str],
    *,
    description: str | None = None,
    version: str | None = None,
    continue_on_step_failure: bool | None = None,
) -> dict[str, Any]:
    """The YAML document of ``pipeline``, without ``name`` (see :func:`named`).

    :param source_directory: maps a step's absolute source directory to what the definition says
        (the folder of its snapshot, relative to the definition file).
    """
    writer = _Writer(source_directory)
    steps = [writer.step(step, pipeline) for step in _in_order(pipeline)]
    document: dict[str, Any] = {}
    for key, value in (("description", description or pipeline.description), ("version", version)):
        if value is not None:
            document[key] = value
    if continue_on_step_failure is not None:
        document["continue_on_step_failure"] = bool(continue_on_step_failure)
    if pipeline.default_datastore is not None:
        document["default_datastore"] = pipeline.default_datastore.name
    for section in ("computes", "data_references", "pipeline_data", "output_datasets", "parameters", "datasets"):
        if writer.sections[section]:
            document[section] = writer.sections[section]
    document["steps"] = steps
    return document


def graph_hash(document: dict[str, Any]) -> str:
    """The content hash of a definition (its graph, arguments, and code by snapshot hash)."""
    return hashlib.sha256(dump(document).encode()).hexdigest()


def named(document: dict[str, Any], name: str, **top: Any) -> dict[str, Any]:
    """The document as the pipeline ``name`` (the DAG id), with other top-level keys (``experiment``...)."""
    return {"name": name, **{k: v for k, v in top.items() if v is not None}, **document}


def dump(document: dict[str, Any]) -> str:
    """The document as YAML text, keys in the order given."""
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def _in_order(pipeline: Pipeline) -> list[PipelineStep]:
    """The steps, every producer before its consumers (``$output.<step>`` names an earlier step)."""
    steps = {step.name: step for step in pipeline.steps}
    before: dict[str, set[str]] = {name: set() for name in steps}
    for upstream, downstream in pipeline.edges():
        before[downstream].add(upstream)
    ordered: list[PipelineStep] = []
    while before:
        ready = sorted(name for name, needs in before.items() if not needs)
        if not ready:  # a cycle: Pipeline.validate() reports it
            ready = sorted(before)
        for name in ready:
            ordered.append(steps[name])
            del before[name]
        for needs in before.values():
            needs.difference_update(ready)
    return ordered


class _Writer:
    def __init__(self, source_directory: Callable[[str], str]) -> None:
        self._source_directory = source_directory
        self.sections: dict[str, dict[str, Any]] = {
            "computes": {},
            "data_references": {},
            "pipeline_data": {},
            "parameters": {},
            "datasets": {},
            "output_datasets": {},
        }
        self._objects: dict[str, Any] = {}  # $data name -> the object it stands for
        self._made_by: dict[int, str] = {}  # id(PipelineData a step makes itself) -> that step's name

    def step(self, step: PipelineStep, pipeline: Pipeline) -> dict[str, Any]:
        kind = step.kind
        if step_kinds().get(kind) is not type(step):
            raise DefinitionNotWritable(f"step {step.name!r}: a {type(step).__name__} is not a step kind YAML knows")
        item: dict[str, Any] = {"kind": kind}
        for field, value in step.constructor_arguments.items():
            if field == "source_directory":
                continue
            item[field] = self._value(value, f"step {step.name!r}, field {field!r}")
        source = step.source_directory(pipeline.default_source_directory) if hasattr(step, "source_directory") else None
        if isinstance(step, ParallelRunStep):  # its source directory is its config's
            item["parallel_run_config"]["source_directory"] = self._source_directory(source)
        elif source is not None:
            item["source_directory"] = self._source_directory(source)
        run_after = sorted(other.name for other in step._run_after)
        if run_after:
            item["run_after"] = run_after
        output = getattr(step, "get_output", None)
        if callable(output):
            self._made_by[id(output())] = step.name
        return item

    def _value(self, value: Any, where: str) -> Any:
        if isinstance(value, PipelineParameter):
            spec = (
                {"type": "dataset", "default": dataset_value(value.default_value)}
                if value.is_dataset
                else {"type": value.json_type, "default": value.default_value}
            )
            return self._declare("parameters", value.name, value, spec, where, "$param")
        if isinstance(value, OutputFileDatasetConfig):
            return self._declare("output_datasets", value.name, value, _output_dataset(value), where, "$data")
        if isinstance(value, DatasetConsumptionConfig):
            return self._declare("datasets", value.name, value, self._consumption(value, where), where, "$dataset")
        if isinstance(value, DataReference):
            return self._declare(
                "data_references", value.data_reference_name, value, _data_reference(value), where, "$data"
            )
        if isinstance(value, PipelineData):
            if id(value) in self._made_by:
                return f"$output.{self._made_by[id(value)]}"
            return self._declare("pipeline_data", value.name, value, _pipeline_data(value), where, "$data")
        if isinstance(value, InputPortBinding):
            return self._binding(value, where)
        if isinstance(value, Datastore):
            return f"$datastore.{value.name}"
        if isinstance(value, ComputeTarget):
            return self._compute(value, where)
        if isinstance(value, RunConfiguration):
            return runconfig_spec(value, lambda target: self._value(target, f"{where}.target"))
        if isinstance(value, ParallelRunConfig):
            return self._parallel_run_config(value, where)
        if isinstance(value, _LIBRARIES):
            return self._value(library_fields(value), where)
        if isinstance(value, str):
            if _REFERENCE.match(value):
                raise DefinitionNotWritable(f"{where}: the text {value!r} would read as a reference in YAML")
            return value
        if value is None or isinstance(value, bool | int | float):
            return value
        if is_datapath_input(value):
            return self._value(datapath_input_reference(value), where)
        if isinstance(value, list | tuple):
            return [self._value(item, where) for item in value]
        if isinstance(value, dict) and all(isinstance(key, str) for key in value):
            return {key: self._value(item, where) for key, item in value.items()}
        raise DefinitionNotWritable(
            f"{where}: a {type(value).__name__} can not be sent to the deployment yet; "
            "publish this pipeline from a DAG file (pipeline.publish(name=...) in Airflow's DAG folder) instead"
        )

    def _parallel_run_config(self, config: ParallelRunConfig, where: str) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        for field, value in config.fields().items():
            if field == "source_directory" or value is None:
                continue
            at = f"{where}.{field}"
            spec[field] = environment_spec(value) if field == "environment" else self._value(value, at)
        return spec

    def _declare(self, section: str, name: str, obj: Any, spec: Any, where: str, prefix: str) -> str:
        """``prefix.name``, declaring ``spec`` under ``section`` the first time (``$data`` spans two sections)."""
        reference = f"{prefix}.{name}"
        earlier = self._objects.get(reference)
        if earlier is None:
            self._objects[reference] = obj
            self.sections[section][name] = spec
        elif earlier is not obj and self.sections[section].get(name) != spec:
            raise DefinitionNotWritable(
                f"{where}: two different objects are named {name!r}; give each DataReference, PipelineData "
                "and PipelineParameter its own name"
            )
        return reference

    def _consumption(self, consumption: DatasetConsumptionConfig, where: str) -> dict[str, Any]:
        source = consumption.parameter or consumption.dataset
        # A parameter or an output dataset is declared once and referenced; a dataset is written in place.
        is_dataset = isinstance(source, AbstractDataset | DatasetReference)
        dataset = dataset_value(source) if is_dataset else self._value(source, where)
        spec: dict[str, Any] = {"dataset": dataset, "mode": consumption.mode}
        if consumption.path_on_compute:
            spec["path_on_compute"] = consumption.path_on_compute
        return spec

    def _binding(self, binding: InputPortBinding, where: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"data": self._value(binding.bind_object, where), "name": binding.name}
        if binding.bind_mode != "mount":
            spec["mode"] = binding.bind_mode
        for key in ("path_on_compute", "overwrite"):
            if getattr(binding, key) is not None:
                spec[key] = getattr(binding, key)
        return spec

    def _compute(self, target: ComputeTarget, where: str) -> str:
        kind = next((k for k, cls in COMPUTE_KINDS.items() if type(target) is cls), None)
        if kind is None:
            raise DefinitionNotWritable(
                f"{where}: a {type(target).__name__} compute target can not be sent to the deployment yet; "
                "publish this pipeline from a DAG file instead"
            )
        config = {"type": kind, **{field: getattr(target, field, None) for field in COMPUTE_FIELDS[kind]}}
        spec = {key: value for key, value in config.items() if value is not None}
        return self._declare("computes", target.name, target, spec, where, "$compute")


def _data_reference(reference: DataReference) -> dict[str, Any]:
    spec: dict[str, Any] = {"datastore": reference.datastore.name}
    if isinstance(reference, SqlDataReference):
        fields = ("sql_table", "sql_query", "sql_stored_procedure")
        return {**spec, **{key: getattr(reference, key) for key in fields if getattr(reference, key)}}
    if reference.path_on_datastore:
        spec["path_on_datastore"] = reference.path_on_datastore
    if reference.mode != "mount":
        spec["mode"] = reference.mode
    if reference.path_on_compute:
        spec["path_on_compute"] = reference.path_on_compute
    if reference.overwrite:
        spec["overwrite"] = True
    return spec


def _output_dataset(output: OutputFileDatasetConfig) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if output.destination is not None:
        spec["destination"] = {"datastore": output.destination[0].name, "path": output.path_template}
    if output.source:
        spec["source"] = output.source
    if output.pipeline_data._output_mode == "upload":
        spec["mode"] = "upload"
        spec["overwrite"] = bool(output.pipeline_data._output_overwrite)
    if output.registration is not None:
        spec["register_on_complete"] = {k: v for k, v in output.registration.items() if v}
    return spec


def _pipeline_data(data: PipelineData) -> dict[str, Any] | None:
    spec: dict[str, Any] = {}
    if data.datastore is not None:
        spec["datastore"] = data.datastore.name
    if data.output_name != data.name:
        spec["output_name"] = data.output_name
    for field, default in _PIPELINE_DATA_FIELDS.items():
        value = getattr(data, f"_{field}")
        if value != default:
            spec[field] = value
    return spec or None
