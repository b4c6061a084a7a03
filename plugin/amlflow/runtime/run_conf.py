"""What amlflow keeps in a DAG run's ``conf`` beside the parameter values: one ``amlflow`` key.

A run triggered through the AML-compatible endpoint carries its experiment name, tags, properties and
``DataPathAssignments`` there, so the run can be found by experiment and its steps read the repointed
inputs. A trigger from Airflow's own REST API or UI may set the same key::

    {"pipeline_arg": 20,
     "amlflow": {"experiment_name": "My_Pipeline",
                 "data_paths": {"test_data": {"datastore": "workspaceblobstore", "path": "other/20news.csv"}}}}

Every amlflow DAG has a Param of that name (:func:`options_param`) whose JSON Schema says what the
section may hold, so Airflow checks it when it creates a run, whatever the route (its REST API, its UI,
the AML-compatible endpoint): a data path may name only a datastore the pipeline declares (or one of
``[amlflow] assignable_datastores``) and a path inside it. The Param is not a PipelineParameter:
:func:`pipeline_parameter_names` leaves it out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from amlflow.runtime.limits import MAX_STRING_CHARS, NO_NUL_PATTERN
from amlflow.storage.names import MAX_PATH_LENGTH, RELATIVE_PATH_PATTERN

#: The conf key amlflow owns.
KEY = "amlflow"


def pipeline_parameter_names(params: Iterable[str]) -> list[str]:
    """The names among a DAG's Params that are PipelineParameters (all but amlflow's own)."""
    return sorted(name for name in params if name != KEY)


def options_param(data_inputs: dict[str, str], datastores: Iterable[str], dataset_parameters: Iterable[str]) -> Any:
    """The Param that checks a run's ``amlflow`` section.

    :param data_inputs: the pipeline's DataReference inputs: name -> the datastore it was declared on.
    :param datastores: the datastores a run may point those inputs at.
    :param dataset_parameters: the PipelineParameters whose values are datasets.
    """
    from airflow.sdk import Param

    text = {"type": "string", "maxLength": MAX_STRING_CHARS, "pattern": NO_NUL_PATTERN}
    where = {
        "type": "object",
        "required": ["datastore", "path"],
        "additionalProperties": False,
        "properties": {
            "datastore": {"enum": sorted(set(datastores))},
            "path": {"type": "string", "maxLength": MAX_PATH_LENGTH, "pattern": RELATIVE_PATH_PATTERN},
        },
    }
    return Param(
        {},
        description=(
            "amlflow's run options, all optional: experiment_name, description, tags, and data_paths "
            '({"<DataReference input>": {"datastore": ..., "path": ...}}) to read other data in this run, '
            'datasets ({"<dataset parameter>": {"id": ...} or {"name": ..., "version": ...}}) to read other datasets'
        ),
        type="object",
        # A section of its own in the UI's trigger form, collapsed: most runs need none of it.
        section="amlflow run options",
        properties={
            "experiment_name": text,
            "description": text,
            # Set by a schedule's DAG on the runs it starts (``Schedule.get_pipeline_runs``).
            "schedule_id": text,
            "tags": {"type": "object", "additionalProperties": text},
            "properties": {"type": "object", "additionalProperties": text},
            "data_paths": {
                "type": "object",
                "propertyNames": {"enum": sorted(data_inputs)},
                "additionalProperties": where,
            },
            "datasets": {
                "type": "object",
                "propertyNames": {"enum": sorted(dataset_parameters)},
                "additionalProperties": DATASET_CHOICE,
            },
        },
    )


#: A dataset a run may be given for a dataset parameter: a saved one by id, or a registered one by name.
DATASET_CHOICE = {
    "oneOf": [
        {
            "type": "object",
            "required": ["id"],
            "additionalProperties": False,
            "properties": {"id": {"type": "string", "pattern": "^[0-9a-fA-F-]{36}$"}},
        },
        {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                # Which names exist is the registry's to say, when the run is created through the endpoint,
                # or when the step starts.
                "name": {"type": "string", "minLength": 1, "maxLength": 250, "pattern": NO_NUL_PATTERN},
                "version": {"oneOf": [{"type": "integer", "minimum": 1}, {"const": "latest"}]},
            },
        },
    ]
}


def assignable_datastores(params: Any, declared: str) -> list[str]:
    """The datastores a run may point a DataReference input (declared on ``declared``) at, from a DAG's Params."""
    try:
        schema = params.get_param(KEY).schema
        return list(schema["properties"]["data_paths"]["additionalProperties"]["properties"]["datastore"]["enum"])
    except (KeyError, TypeError):  # a DAG built before the options Param: only the declared datastore
        return [declared]


def section(conf: dict[str, Any] | None) -> dict[str, Any]:
    """The run conf's amlflow section (``KEY``), or {} if it has none."""
    value = (conf or {}).get(KEY)
    return value if isinstance(value, dict) else {}


def experiment_name(conf: dict[str, Any] | None) -> str | None:
    """The experiment name the run was submitted under, or None."""
    return section(conf).get("experiment_name")


def data_path(conf: dict[str, Any] | None, input_name: str) -> tuple[str, str] | None:
    """The (datastore, path) a run assigned to the DataReference input ``input_name``, if any."""
    assigned = section(conf).get("data_paths", {}).get(input_name)
    if not assigned:
        return None
    return assigned["datastore"], assigned["path"]


def dataset_choice(conf: dict[str, Any] | None, parameter: str) -> dict[str, Any] | None:
    """The dataset (``{"id"}`` or ``{"name", "version"}``) a run assigned to the dataset parameter, if any."""
    return section(conf).get("datasets", {}).get(parameter) or None
