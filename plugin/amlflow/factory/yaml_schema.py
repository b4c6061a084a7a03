"""The JSON Schema of a YAML pipeline, made from the step classes, and schema errors with their location.

``plugin/amlflow/schema/pipeline.schema.json`` is this schema written out for editors (point the
YAML language server at it); ``python -m amlflow.factory.yaml_schema`` rewrites it after a step kind
is added. The loader validates against the schema made in-process, so a new kind works at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from amlflow.core.databricks import LIBRARY_PARAMETERS
from amlflow.factory.runconfig_spec import SCHEMA as RUNCONFIG_SCHEMA
from amlflow.factory.yaml_errors import DefinitionError
from amlflow.factory.yaml_kinds import constructor_parameters, step_kinds
from amlflow.factory.yaml_source import YamlDocument

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_PATH = os.path.join(_PACKAGE, "schema", "pipeline.schema.json")

#: a reference to something the definition declares: ``$data.<name>`` (data reference or pipeline
#: data), ``$param.<name>``, ``$dataset.<name>``, ``$datastore.<name>``, ``$compute.<name>``, or ``$output.<step>``: the
#: output a step makes itself (``step.get_output()``, as DataTransferStep does)
REFERENCE_PATTERN = r"^\$(data|param|dataset|datastore|compute|output)\.[\w.-]+$"
_DATA_REF = {
    "type": "string",
    "pattern": r"^\$(data\.\w+|output\.[\w.-]+)$",
    "description": "$data.<name>, or $output.<step> (an earlier step's get_output())",
}
_DATASET_REF = {"type": "string", "pattern": r"^\$dataset\.\w+$", "description": "$dataset.<name>"}
_SCALAR = {"type": ["string", "number", "integer", "boolean"]}
#: A dataset's JSON (``amlflow.data.dataset_values``): its definition, and its id, name and version if saved.
_DATASET = {
    "type": "object",
    "required": ["definition"],
    "additionalProperties": False,
    "properties": {
        "definition": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["File", "Tabular", "Registered"]},
                "sources": {"type": "array", "minItems": 1},
                "reference": {"type": "object", "description": "Registered: {name, version} or {id}"},
            },
        },
        "id": {"type": "string"},
        "name": {"type": "string"},
        "version": {"type": "integer"},
    },
}
_BINDING = {
    "type": "object",
    "description": "Read data under another name or mode (InputPortBinding / as_download / as_mount).",
    "required": ["data"],
    "additionalProperties": False,
    "properties": {
        "data": _DATA_REF,
        "name": {"type": "string", "pattern": r"^\w+$"},
        "mode": {"enum": ["mount", "download"]},
        "path_on_compute": {"type": "string"},
        "overwrite": {"type": "boolean"},
    },
}


def _library_list(kind: type) -> dict[str, Any]:
    """A DatabricksStep library list: each item the mapping of a ``kind``'s fields, or its one path or name."""
    # Every field is a string but Maven's exclusions, the one list (its default an empty list).
    fields, missing = dataclasses.fields(kind), dataclasses.MISSING
    strings = {"type": "array", "items": {"type": "string"}}
    properties = {f.name: strings if f.default_factory is list else {"type": "string"} for f in fields}
    required = [f.name for f in fields if f.default is missing and f.default_factory is missing]
    mapping = {"type": "object", "additionalProperties": False, "required": required, "properties": properties}
    items = {"anyOf": [mapping, {"type": "string"}]}
    return {"type": "array", "description": f"{kind.__name__} items.", "items": items}


_INTEGER_OR_PARAM = {"type": ["integer", "string"], "description": "A number, or $param.<name>."}
#: ParallelRunStep's ``parallel_run_config``: ParallelRunConfig's arguments (environment as in a runconfig).
PARALLEL_RUN_CONFIG = {
    "type": "object",
    "additionalProperties": False,
    "required": ["environment", "entry_script", "error_threshold", "output_action", "compute_target", "node_count"],
    "properties": {
        "environment": RUNCONFIG_SCHEMA["properties"]["environment"],
        "entry_script": {"type": "string", "minLength": 1},
        "error_threshold": {"type": "integer", "minimum": -1},
        "output_action": {"enum": ["append_row", "summary_only"]},
        "compute_target": {"type": "string", "description": "Compute target name, or $compute.<name>."},
        "node_count": _INTEGER_OR_PARAM,
        "process_count_per_node": _INTEGER_OR_PARAM,
        "mini_batch_size": {"type": ["integer", "string"], "description": "Files, or a size (1KB, 10MB); or $param."},
        "source_directory": {"type": "string", "description": "Relative to the YAML file's folder."},
        "description": {"type": "string"},
        "logging_level": {"type": "string"},
        "run_invocation_timeout": _INTEGER_OR_PARAM,
        "run_max_try": _INTEGER_OR_PARAM,
        "append_row_file_name": {"type": "string"},
        "allowed_failed_count": {"type": "integer", "minimum": -1},
        "allowed_failed_percent": {"type": "number", "minimum": 0, "maximum": 100},
        "partition_keys": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
        "environment_variables": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
#: the schema of a constructor argument that many step kinds share, by name
STEP_FIELDS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "description": "Step name (the task id)."},
    "inputs": {"type": "array", "items": {"anyOf": [_DATA_REF, _BINDING, _DATASET_REF]}},
    "outputs": {"type": "array", "items": _DATA_REF},
    "arguments": {"type": "array", "items": _SCALAR},
    "compute_target": {"type": "string", "description": "Compute target name, or $compute.<name>."},
    "source_directory": {"type": "string", "description": "Relative to the YAML file's folder."},
    "script_name": {"type": "string", "minLength": 1},
    "allow_reuse": {"type": "boolean"},
    "params": {"type": "object", "additionalProperties": _SCALAR},
    "version": {"type": "string"},
    "runconfig": RUNCONFIG_SCHEMA,
    "parallel_run_config": PARALLEL_RUN_CONFIG,
    "side_inputs": {"type": "array", "items": {"anyOf": [_DATA_REF, _BINDING, _DATASET_REF]}},
    "output": _DATA_REF,
    **{param: _library_list(kind) for param, kind in LIBRARY_PARAMETERS.items()},
}
#: Each compute kind a definition declares, with its settings (``type`` defaults to AmlCompute).
COMPUTE_FIELDS: dict[str, dict[str, Any]] = {
    "AmlCompute": {
        "vm_size": {"type": "string"},
        "vm_priority": {"enum": ["dedicated", "lowpriority"]},
        "min_nodes": {"type": "integer", "minimum": 0},
        "max_nodes": {"type": "integer", "minimum": 1},
        "idle_seconds_before_scaledown": {"type": "integer", "minimum": 0},
    },
    "DockerCompute": {
        "docker_url": {"type": ["string", "null"]},
        "docker_conn_id": {"type": ["string", "null"]},
        "max_nodes": {"type": "integer", "minimum": 1},
        "network_mode": {"type": ["string", "null"]},
    },
    "DatabricksCompute": {
        "resource_group": {"type": ["string", "null"]},
        "workspace_name": {"type": ["string", "null"]},
    },
    "AdlaCompute": {"resource_group": {"type": ["string", "null"]}, "account_name": {"type": ["string", "null"]}},
    "DataFactoryCompute": {
        "resource_group": {"type": ["string", "null"]},
        "factory_name": {"type": ["string", "null"]},
    },
}


def _compute_schema(kind: str) -> dict[str, Any]:
    kind_schema: dict[str, Any] = {"const": kind}
    if kind == "AmlCompute":
        kind_schema = {"enum": [kind]}
    properties = {"type": kind_schema, **COMPUTE_FIELDS[kind]}
    required = [] if kind == "AmlCompute" else ["type"]
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


RUN_AFTER = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Names of steps this one runs after, with no data between them (PipelineStep.run_after).",
}


def _step_schema(kind: str, cls: type) -> dict[str, Any]:
    params = constructor_parameters(cls)
    properties: dict[str, Any] = {"kind": {"const": kind}, "run_after": RUN_AFTER}
    for name in params:
        properties[name] = STEP_FIELDS.get(name, {"description": f"{kind} argument {name!r}"})
    required = [n for n, p in params.items() if p.default is p.empty]
    return {"properties": properties, "required": ["kind", *required], "additionalProperties": False}


@functools.cache
def pipeline_schema() -> dict[str, Any]:
    """The schema, with one branch per step kind that ``amlflow.pipeline.steps`` exports."""
    kinds = step_kinds()
    word = {"type": "string", "pattern": r"^\w+$"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "amlflow pipeline",
        "description": "An Azure ML v1 style pipeline as YAML; each key mirrors the Python API (see README).",
        "type": "object",
        "additionalProperties": False,
        "required": ["steps"],
        "properties": {
            "name": {
                "type": "string",
                "pattern": r"^[\w.-]{1,250}$",
                "description": "DAG id (publish name). Must equal the file name without extension.",
            },
            "description": {"type": "string"},
            "version": {"type": "string", "description": "publish(version=...)"},
            "published": {
                "type": "boolean",
                "default": True,
                "description": "true: Pipeline.publish (unpaused DAG); false: Pipeline.as_dag.",
            },
            "continue_on_step_failure": {"type": "boolean", "default": False},
            "experiment": {
                "type": "string",
                "pattern": r"^[A-Za-z0-9][\w-]{0,254}$",
                "description": "Submitted to this experiment (Experiment.submit): a DAG that runs when triggered, "
                "tagged experiment:<name>, not a published pipeline.",
            },
            "display_name": {"type": "string", "maxLength": 250, "description": "The DAG's name in the Airflow UI."},
            "schedule": {"type": ["string", "null"], "description": "An Airflow schedule: cron or preset."},
            "default_datastore": {"type": "string"},
            "default_source_directory": {"type": "string", "description": "Relative to the YAML file's folder."},
            "computes": {
                "type": "object",
                "description": "Compute targets to create or attach (ComputeTarget.create / attach), by name.",
                "propertyNames": {"pattern": r"^[A-Za-z][A-Za-z0-9-]{1,31}$"},
                "additionalProperties": {"oneOf": [_compute_schema(kind) for kind in COMPUTE_FIELDS]},
            },
            "data_references": {
                "type": "object",
                "description": "DataReference objects, by data_reference_name (SqlDataReference with sql_table "
                "or sql_query).",
                "propertyNames": word,
                "additionalProperties": {
                    "type": "object",
                    "required": ["datastore"],
                    "additionalProperties": False,
                    "properties": {
                        "datastore": {"type": "string"},
                        "path_on_datastore": {"type": "string"},
                        "mode": {"enum": ["mount", "download", "upload"]},
                        "path_on_compute": {"type": "string"},
                        "overwrite": {"type": "boolean"},
                        "sql_table": {"type": "string"},
                        "sql_query": {"type": "string"},
                        "sql_stored_procedure": {"type": "string"},
                    },
                },
            },
            "pipeline_data": {
                "type": "object",
                "description": "PipelineData objects, by name.",
                "propertyNames": word,
                "additionalProperties": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "properties": {
                        "datastore": {"type": "string"},
                        "output_name": word,
                        "output_mode": {"enum": ["mount", "upload"]},
                        "output_path_on_compute": {"type": "string"},
                        "output_overwrite": {"type": "boolean"},
                        "data_type": {"type": "string"},
                        "is_directory": {"type": "boolean"},
                        "pipeline_output_name": {"type": "string"},
                    },
                },
            },
            "parameters": {
                "type": "object",
                "description": "PipelineParameter objects, by name.",
                "propertyNames": {"minLength": 1},
                "additionalProperties": {
                    "type": "object",
                    "required": ["default"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"enum": ["string", "integer", "number", "boolean", "dataset"]},
                        "default": {"anyOf": [_SCALAR, _DATASET]},
                    },
                    # A dataset default is a dataset's JSON; a scalar default is not.
                    "if": {"properties": {"type": {"const": "dataset"}}, "required": ["type"]},
                    "then": {"properties": {"default": _DATASET}},
                    "else": {"properties": {"default": _SCALAR}},
                },
            },
            "output_datasets": {
                "type": "object",
                "description": "OutputFileDatasetConfig objects, by name.",
                "propertyNames": word,
                "additionalProperties": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "properties": {
                        "destination": {
                            "type": "object",
                            "required": ["datastore", "path"],
                            "additionalProperties": False,
                            "properties": {"datastore": {"type": "string"}, "path": {"type": "string"}},
                        },
                        "source": {"type": "string"},
                        "mode": {"enum": ["mount", "upload"]},
                        "overwrite": {"type": "boolean"},
                        "register_on_complete": {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "description": {"type": "string"},
                                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                            },
                        },
                    },
                },
            },
            "datasets": {
                "type": "object",
                "description": "DatasetConsumptionConfig objects (how a step reads a dataset), by name.",
                "propertyNames": word,
                "additionalProperties": {
                    "type": "object",
                    "required": ["dataset"],
                    "additionalProperties": False,
                    "properties": {
                        "dataset": {
                            "anyOf": [_DATASET, {"type": "string", "pattern": r"^\$(param\.[\w.-]+|data\.\w+)$"}],
                            "description": "The dataset's JSON, $param.<name> of a dataset parameter, or "
                            "$data.<name> of an output dataset.",
                        },
                        "mode": {"enum": ["direct", "mount", "download"], "default": "direct"},
                        "path_on_compute": {"type": "string"},
                    },
                },
            },
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
        },
        "$defs": {
            "step": {
                "type": "object",
                "required": ["kind"],
                "properties": {"kind": {"enum": list(kinds)}},
                "allOf": [
                    {"if": {"properties": {"kind": {"const": k}}, "required": ["kind"]}, "then": _step_schema(k, c)}
                    for k, c in kinds.items()
                ],
            }
        },
    }


@functools.cache
def _validators() -> tuple[Any, dict[str, Any]]:
    """A validator of the document without its steps' arguments, and one per step kind.

    Same rules as the schema file, faster: each step is checked against its own kind's branch only,
    not tried against every kind's ``if``.
    """
    from jsonschema import Draft202012Validator

    schema = pipeline_schema()
    outline = {**schema, "$defs": {"step": {k: v for k, v in schema["$defs"]["step"].items() if k != "allOf"}}}
    kinds = {k: Draft202012Validator({"type": "object", **_step_schema(k, c)}) for k, c in step_kinds().items()}
    return Draft202012Validator(outline), kinds


def step_label(data: Any, index: int) -> str:
    """How errors name the step at ``index``: its name, else its script, else its position."""
    steps = data.get("steps") if isinstance(data, dict) else None
    item = steps[index] if isinstance(steps, list) and index < len(steps) else None
    if isinstance(item, dict):
        for key in ("name", "script_name"):
            if isinstance(item.get(key), str) and item[key]:
                return item[key]
    return f"steps[{index}]"


def describe(data: Any, path: Sequence[str | int]) -> str:
    """``step.field`` for a path inside a step, else the dotted path ('pipeline' for the whole file)."""
    parts = list(path)
    head = ""
    if len(parts) >= 2 and parts[0] == "steps" and isinstance(parts[1], int):
        head = step_label(data, parts[1])
        parts = parts[2:]
    text = head
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "pipeline"


def schema_errors(document: YamlDocument) -> list[DefinitionError]:
    """Every way the document breaks the schema, at the line of the offending key or value."""
    outline, kinds = _validators()
    errors = []
    for error in outline.iter_errors(document.data):
        errors.extend(_located(document, error, []))
    steps = document.data.get("steps") if isinstance(document.data, dict) else None
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        kind = kinds.get(step.get("kind")) if isinstance(step, dict) and isinstance(step.get("kind"), str) else None
        for error in kind.iter_errors(step) if kind is not None else ():
            errors.extend(_located(document, error, ["steps", index]))
    return sorted(set(errors))


def _located(document: YamlDocument, error: Any, prefix: list[str | int]) -> list[DefinitionError]:
    path = [*prefix, *error.absolute_path]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        found = []
        for key in error.instance:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                message = f"unknown field {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                found.append(document.error([*path, key], describe(document.data, [*path, key]), message, key=True))
        return found
    if error.validator == "required":
        missing = ", ".join(repr(k) for k in error.validator_value if k not in error.instance)
        return [document.error(path, describe(document.data, path), f"missing required field {missing}")]
    if error.validator == "enum" and path[-1:] == ["kind"]:
        known = ", ".join(error.validator_value)
        message = f"unknown step kind {error.instance!r} (known: {known})"
        return [document.error(path, describe(document.data, path), message)]
    if error.validator == "propertyNames":
        path = [*path, error.instance]
        return [document.error(path, describe(document.data, path), f"invalid name: {error.message}", key=True)]
    return [document.error(path, describe(document.data, path), error.message)]


def main() -> int:
    """Write the schema file (``python -m amlflow.factory.yaml_schema [PATH]``)."""
    target = sys.argv[1] if len(sys.argv) > 1 else SCHEMA_PATH
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(pipeline_schema(), handle, indent=2)
        handle.write("\n")
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
