"""The JSON Schema in the repo is the one the loader checks against, and the example pipeline follows it."""

from __future__ import annotations

import json
import os

import yaml
from jsonschema import Draft202012Validator

from amlflow.factory.yaml_kinds import step_kinds
from amlflow.factory.yaml_schema import SCHEMA_PATH, pipeline_schema
from tests.conftest import ROOT


def test_committed_schema_is_up_to_date_with_the_step_kinds():
    with open(SCHEMA_PATH) as handle:
        committed = json.load(handle)
    assert committed == pipeline_schema(), "regenerate: .venv/bin/python -m amlflow.factory.yaml_schema"


def test_every_exported_step_kind_has_a_schema_branch_with_its_constructor_arguments():
    branches = {
        b["then"]["properties"]["kind"]["const"]: b["then"] for b in pipeline_schema()["$defs"]["step"]["allOf"]
    }
    assert set(branches) == set(step_kinds()) >= {"PythonScriptStep"}
    python_step = branches["PythonScriptStep"]
    assert {"script_name", "arguments", "inputs", "outputs", "compute_target", "run_after"} <= set(
        python_step["properties"]
    )
    assert python_step["required"] == ["kind", "script_name"]


def test_example_pipeline_is_valid_for_editors_using_the_schema_file():
    with open(SCHEMA_PATH) as handle:
        validator = Draft202012Validator(json.load(handle))
    with open(os.path.join(ROOT, "dags", "pipelines", "Compare_Models_YAML.yaml")) as handle:
        example = yaml.safe_load(handle)
    assert list(validator.iter_errors(example)) == []
    assert list(validator.iter_errors({**example, "stesp": []}))  # and the schema does reject mistakes
