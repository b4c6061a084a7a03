"""Azure ML's ``PipelineSubmissionInfo`` body: parsed, checked against the pipeline, turned into run conf.

Every problem is a ``SubmissionError`` whose message starts with the field it is about
(``ParameterAssignments.pipeline_arg: ...``), answered with HTTP 400.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from amlflow.api.entities import data_reference_inputs, dataset_parameters
from amlflow.core.experiment import experiment_name_problem
from amlflow.exceptions import UserErrorException
from amlflow.runtime import run_conf
from amlflow.runtime.dataset_inputs import dataset_for_choice, given_dataset_problem
from amlflow.runtime.limits import MAX_BODY_BYTES, MAX_NESTING, value_problem
from amlflow.runtime.reuse import REGENERATE_CONF_KEY
from amlflow.storage.names import datastore_name_problem, relative_path_problem


class SubmissionError(ValueError):
    """A submission the pipeline can't run; the message names the field."""


class DataPath(BaseModel):
    """Azure ML's ``DataPath``: a path on a datastore."""

    model_config = ConfigDict(extra="forbid")

    DataStoreName: str = Field(min_length=1)
    RelativePath: str
    SqlDataPath: Any = None


class PipelineSubmission(BaseModel):
    """The body of ``POST .../PipelineRuns/PipelineSubmit/{id}``, with Azure ML's key names."""

    model_config = ConfigDict(extra="forbid")

    ExperimentName: str
    Description: str | None = None
    ParameterAssignments: dict[str, Any] = Field(default_factory=dict)
    DataPathAssignments: dict[str, DataPath] = Field(default_factory=dict)
    DataSetDefinitionValueAssignments: dict[str, Any] | None = None
    RunSource: str | None = None
    RunType: str | None = None
    ContinueRunOnStepFailure: bool | None = None
    EnableNotification: bool | None = None
    ScheduleId: str | None = None
    # The SDK sends ``tags``; Azure ML's documentation table writes ``Tags``: both are accepted.
    tags: dict[str, str] | None = None
    Tags: dict[str, str] | None = None
    Properties: dict[str, str] | None = None
    # amlflow's own: run every step, reusing no earlier outputs (what ``submit(regenerate_outputs=True)`` sends).
    RegenerateOutputs: bool | None = None


def parse(raw: bytes) -> PipelineSubmission:
    """The submission in ``raw`` (JSON), or a SubmissionError naming the first bad field.

    Every value must be one a run can carry (``amlflow.runtime.limits``): a request that would only make
    a run fail later is refused here.
    """
    if len(raw) > MAX_BODY_BYTES:
        raise SubmissionError(f"body: {len(raw):,} bytes is larger than the {MAX_BODY_BYTES:,} a submission may be")
    try:
        body = json.loads(raw or b"null")
    except RecursionError:
        raise SubmissionError(f"body: nested deeper than {MAX_NESTING} levels") from None
    except ValueError as error:
        raise SubmissionError(f"body: not valid JSON ({error})") from None
    if not isinstance(body, dict):
        raise SubmissionError("body: must be a JSON object with at least ExperimentName")
    problem = value_problem(body)
    if problem:
        raise SubmissionError(problem)
    try:
        return PipelineSubmission.model_validate(body)
    except ValidationError as error:
        raise SubmissionError("; ".join(_describe(e) for e in error.errors())) from None


def _describe(error: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "body"
    if error["type"] == "extra_forbidden":
        return f"{field}: unknown field (Azure ML's PipelineSubmissionInfo has no such key)"
    return f"{field}: {error['msg']}"


def to_conf(submission: PipelineSubmission, dag: Any) -> dict[str, Any]:
    """The run conf of this submission to ``dag`` (a serialized DAG): parameter values and our section."""
    problem = experiment_name_problem(submission.ExperimentName)
    if problem:
        raise SubmissionError(f"ExperimentName: {problem}")
    if submission.ContinueRunOnStepFailure is False:
        raise SubmissionError(
            "ContinueRunOnStepFailure: amlflow always lets steps that do not depend on a failed step finish "
            "(Airflow's rule); false is not available"
        )
    conf: dict[str, Any] = {}
    parameters = run_conf.pipeline_parameter_names(dag.params)
    for name, value in submission.ParameterAssignments.items():
        if name not in parameters:
            known = ", ".join(parameters) or "none"
            raise SubmissionError(
                f"ParameterAssignments.{name}: pipeline {dag.dag_id!r} has no parameter {name!r} "
                f"(its parameters: {known})"
            )
        conf[name] = _coerce(value, dag.params.get_param(name).schema)
    ours: dict[str, Any] = {"experiment_name": submission.ExperimentName}
    data_paths = _data_paths(submission.DataPathAssignments, dag)
    if data_paths:
        ours["data_paths"] = data_paths
    datasets = _datasets(submission.DataSetDefinitionValueAssignments or {}, dag)
    if datasets:
        ours["datasets"] = datasets
    tags = {**(submission.Tags or {}), **(submission.tags or {})}
    optional = {
        "description": submission.Description,
        "run_source": submission.RunSource or "API",
        "run_type": submission.RunType,
        "tags": tags,
        "properties": submission.Properties,
    }
    ours.update({key: value for key, value in optional.items() if value})
    conf[run_conf.KEY] = ours
    if submission.RegenerateOutputs:
        conf[REGENERATE_CONF_KEY] = True
    return conf


def _data_paths(assignments: dict[str, DataPath], dag: Any) -> dict[str, dict[str, str]]:
    inputs = data_reference_inputs(dag)
    found: dict[str, dict[str, str]] = {}
    for name, where in assignments.items():
        field = f"DataPathAssignments.{name}"
        if name not in inputs:
            known = ", ".join(sorted(inputs)) or "none"
            raise SubmissionError(
                f"{field}: {name!r} is not a DataReference input of pipeline {dag.dag_id!r} "
                f"(its DataReference inputs: {known})"
            )
        if where.SqlDataPath is not None:
            raise SubmissionError(f"{field}.SqlDataPath: SQL data paths are not supported by amlflow")
        problem = datastore_name_problem(where.DataStoreName)
        if problem:
            raise SubmissionError(f"{field}.DataStoreName: {problem}")
        allowed = run_conf.assignable_datastores(dag.params, inputs[name]["datastore"])
        if where.DataStoreName not in allowed:
            raise SubmissionError(
                f"{field}.DataStoreName: pipeline {dag.dag_id!r} does not use datastore {where.DataStoreName!r}; "
                f"a run may read only the datastores the pipeline declares ({', '.join(allowed)}) "
                "and those of [amlflow] assignable_datastores"
            )
        path = where.RelativePath.strip()
        problem = relative_path_problem(path)
        if problem:
            raise SubmissionError(f"{field}.RelativePath: {problem}")
        found[name] = {"datastore": where.DataStoreName, "path": path}
    return found


def _datasets(assignments: dict[str, Any], dag: Any) -> dict[str, dict[str, Any]]:
    """``DataSetDefinitionValueAssignments`` as the run's ``datasets`` choices, each checked to exist and to be
    of the kind (File or Tabular) its parameter reads."""
    parameters = dataset_parameters(dag)
    found: dict[str, dict[str, Any]] = {}
    for name, value in assignments.items():
        field = f"DataSetDefinitionValueAssignments.{name}"
        if name not in parameters:
            known = ", ".join(sorted(parameters)) or "none"
            raise SubmissionError(
                f"{field}: pipeline {dag.dag_id!r} has no dataset parameter {name!r} (its dataset parameters: {known})"
            )
        choice = _dataset_choice(value, field)
        expected = parameters[name]["dataset"]["definition"]["type"]
        try:
            dataset = dataset_for_choice(choice)
        except UserErrorException as error:
            raise SubmissionError(f"{field}: {error}") from None
        problem = given_dataset_problem(dataset, run_conf.assignable_datastores(dag.params, ""))
        if problem:
            raise SubmissionError(f"{field}: this dataset can not be given to a run: {problem}")
        # A default named in a DAG file (a registered dataset) is of the kind it is when the step runs.
        if expected in ("File", "Tabular") and dataset.definition["type"] != expected:
            raise SubmissionError(
                f"{field}: a {dataset.definition['type']} dataset can not be given to {name!r}, whose default is a "
                f"{expected} dataset"
            )
        found[name] = choice
    return found


def _dataset_choice(value: Any, field: str) -> dict[str, Any]:
    """Azure ML's ``DataSetDefinitionValue`` as ``{"id"}`` or ``{"name", "version"}``."""
    if not isinstance(value, dict) or len(value) != 1:
        raise SubmissionError(
            f"{field}: must be an object with one of SavedDataSetReference {{Id}} or DataSetReference {{Name, Version}}"
        )
    [(kind, reference)] = value.items()
    if kind == "LiteralValue":
        raise SubmissionError(
            f"{field}.LiteralValue: a dataset made from a data path is not supported by amlflow; register the "
            "dataset and send DataSetReference {Name, Version}, or SavedDataSetReference {Id}"
        )
    if kind not in ("SavedDataSetReference", "DataSetReference") or not isinstance(reference, dict):
        raise SubmissionError(f"{field}.{kind}: unknown; send SavedDataSetReference {{Id}} or DataSetReference")
    if reference.get("Id"):
        return {"id": str(reference["Id"])}
    if kind == "DataSetReference" and reference.get("Name"):
        version = reference.get("Version") or "latest"
        return {"name": str(reference["Name"]), "version": int(version) if str(version).isdigit() else version}
    needed = "Id" if kind == "SavedDataSetReference" else "Id, or Name (and Version)"
    raise SubmissionError(f"{field}.{kind}: {needed} is required")


_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    """A string value of a numeric or boolean parameter as that type, as Azure ML's service reads it.

    Azure ML types ``ParameterAssignments`` as strings (``{"pipeline_arg": "20"}``); callers also send
    JSON numbers. A string that does not parse is passed on unchanged, so Airflow's Param validation
    rejects it with its own message.
    """
    types = schema.get("type")
    types = set(types) if isinstance(types, list) else {types}
    if not isinstance(value, str):
        return value
    text = value.strip()
    if "integer" in types and _INTEGER.match(text):
        return int(text)
    if "number" in types and _NUMBER.match(text):
        return int(text) if _INTEGER.match(text) else float(text)
    if "boolean" in types and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value
