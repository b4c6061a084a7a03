"""Every kind of ``amlflow.step_kinds`` is a YAML ``kind``: keys become its constructor arguments, with
``$data``/``$param``/``$datastore`` references resolved, and the schema checks them. A new kind is one registry
entry plus its definition, translator and operator (README, "Adding a step kind")."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import BaseOperator

from amlflow import step_kinds
from amlflow.core.datastore import Datastore
from amlflow.data.data_reference import DataReference
from amlflow.factory import yaml_cache, yaml_kinds, yaml_schema
from amlflow.factory.dag_builder import build_dag
from amlflow.factory.yaml_errors import PipelineDefinitionError
from amlflow.factory.yaml_loader import read_pipeline
from amlflow.pipeline.core.builder import PipelineData, PipelineStep
from amlflow.pipeline.core.graph import PipelineParameter


class NotebookStep(PipelineStep):
    """A step kind the YAML code has never heard of."""

    kind = "NotebookStep"

    def __init__(
        self,
        notebook_path: str,
        name: str | None = None,
        inputs: list | None = None,
        outputs: list | None = None,
        notebook_params: dict | None = None,
        cluster_size: int = 1,
    ) -> None:
        super().__init__(name or notebook_path.rsplit("/", 1)[-1], inputs, outputs)
        self.notebook_path = notebook_path
        self.notebook_params = notebook_params
        self.cluster_size = cluster_size


class NotebookStepOperator(BaseOperator):
    """The operator of a NotebookStep: takes what every step operator is given (``factory.dag_builder``)."""

    def __init__(
        self,
        *,
        notebook_path: str,
        cluster_size: int,
        compute_target: dict | None,
        allow_reuse: bool,
        inputs: list[dict[str, Any]],
        outputs: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.notebook_path = notebook_path
        self.cluster_size = cluster_size
        self.step_inputs = inputs
        self.step_outputs = outputs


def notebook_task(step: NotebookStep, pipeline: Any, common: dict[str, Any]) -> BaseOperator:
    """The translator of a NotebookStep."""
    return NotebookStepOperator(notebook_path=step.notebook_path, cluster_size=step.cluster_size, **common)


def _clear_caches() -> None:
    for cached in (yaml_kinds.step_kinds, yaml_schema.pipeline_schema, yaml_schema._validators, yaml_cache._salt):
        cached.cache_clear()


@pytest.fixture
def new_kind(monkeypatch):
    entry = step_kinds.StepKind(f"{__name__}:NotebookStep", f"{__name__}:notebook_task", ())
    monkeypatch.setitem(step_kinds.STEP_KINDS, "NotebookStep", entry)
    _clear_caches()
    yield
    monkeypatch.undo()
    _clear_caches()


DEFINITION = """\
parameters: {size: {default: 3}}
data_references: {raw: {datastore: lake, path_on_datastore: in/}}
pipeline_data: {features: {}}
steps:
  - kind: NotebookStep
    notebook_path: /nb/prep
    inputs: [$data.raw]
    outputs: [$data.features]
    notebook_params: {n: $param.size, store: $datastore.lake, label: plain}
    cluster_size: 2
"""


def test_a_new_step_kind_is_built_from_its_constructor_arguments(new_kind, tmp_path):
    path = tmp_path / "nb.yaml"
    path.write_text(DEFINITION)
    (step,) = read_pipeline(str(path)).pipeline.steps
    assert isinstance(step, NotebookStep) and step.name == "prep" and step.cluster_size == 2
    assert isinstance(step.inputs[0], DataReference) and step.inputs[0].path_on_datastore == "in/"
    assert isinstance(step.outputs[0], PipelineData) and step.outputs[0].name == "features"
    params = step.notebook_params
    assert isinstance(params["n"], PipelineParameter) and params["n"].default_value == 3
    assert isinstance(params["store"], Datastore) and params["store"].name == "lake" and params["label"] == "plain"


def test_a_new_step_kind_becomes_a_task_of_its_operator_from_its_registry_entry_alone(new_kind, tmp_path):
    path = tmp_path / "nb.yaml"
    path.write_text(DEFINITION)
    dag = build_dag(read_pipeline(str(path)).pipeline, "nb")
    task = dag.get_task("prep")
    assert type(task) is NotebookStepOperator and task.notebook_path == "/nb/prep" and task.cluster_size == 2
    assert [spec["name"] for spec in task.step_inputs] == ["raw"]
    assert [spec["name"] for spec in task.step_outputs] == ["features"]


def test_the_schema_checks_a_new_kinds_arguments(new_kind, tmp_path):
    path = tmp_path / "nb.yaml"
    path.write_text(DEFINITION.replace("    notebook_path: /nb/prep\n", "    notbook_path: /nb/prep\n"))
    with pytest.raises(PipelineDefinitionError) as caught:
        read_pipeline(str(path))
    assert [str(e) for e in caught.value.errors] == [
        f"{path}:5:5: steps[0]: missing required field 'notebook_path'",
        f"{path}:6:5: steps[0].notbook_path: unknown field 'notbook_path' (did you mean 'notebook_path'?)",
    ]
