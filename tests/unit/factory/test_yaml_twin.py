"""A YAML pipeline and its Python twin give the same DAG: tasks, edges, params and operator arguments."""

from __future__ import annotations

import os
import runpy

import pytest

from amlflow.factory.yaml_loader import dag_from_yaml
from amlflow.pipeline.core import dag_file
from tests.conftest import ROOT, local_datastores

OPERATOR_FIELDS = (
    "script_name",
    "source_directory",
    "arguments",
    "inputs",
    "outputs",
    "step_params",
    "compute_target",
    "allow_reuse",
    "queue",
    "pool",
)


def shape(dag) -> dict:
    return {
        "tasks": {
            t.task_id: {"operator": type(t).__name__, **{f: getattr(t, f) for f in OPERATOR_FIELDS}} for t in dag.tasks
        },
        "edges": sorted((t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids),
        "params": {k: (dag.params.get_param(k).value, dag.params.get_param(k).schema) for k in dag.params},
        "tags": set(dag.tags),
        "schedule": dag.schedule,
        "description": dag.description,
        "fail_fast": dag.fail_fast,
        "is_paused_upon_creation": dag.is_paused_upon_creation,
    }


@pytest.fixture(scope="module")
def twins():
    with dag_file():
        python_dag = runpy.run_path(os.path.join(ROOT, "dags", "compare_models.py"))["published_pipeline1"].dag
    yaml_dag = dag_from_yaml(os.path.join(ROOT, "dags", "pipelines", "Compare_Models_YAML.yaml"))
    return python_dag, yaml_dag


def test_yaml_twin_of_the_example_builds_the_same_dag_as_the_python_file(twins):
    python_dag, yaml_dag = twins
    assert yaml_dag.dag_id == "Compare_Models_YAML" != python_dag.dag_id
    assert shape(yaml_dag) == shape(python_dag)


def test_the_compared_dag_is_the_real_pipeline(twins):
    """Guards the comparison itself: equal because both carry the pipeline, not because both are empty."""
    _, yaml_dag = twins
    got = shape(yaml_dag)
    assert got["edges"] == [("extract.py", "compare.py"), ("train.py", "compare.py"), ("train.py", "extract.py")]
    assert got["params"]["pipeline_arg"][0] == 10
    compare = got["tasks"]["compare.py"]
    assert compare["arguments"][-2:] == ["--param1", "{{ params['pipeline_arg'] }}"]
    assert compare["compute_target"] == {"name": "aml-compute", "type": "AmlCompute", "pool_slots_total": 4}
    assert compare["source_directory"] == os.path.join(ROOT, "dags", "compare_models")
    assert got["tags"] == {"amlflow", "amlflow:published"} and got["is_paused_upon_creation"] is False


def test_schedule_run_after_bindings_and_as_dag_map_to_the_python_api(tmp_path):
    """``published: false`` is Pipeline.as_dag; run_after, an input binding and a schedule come through."""
    (tmp_path / "s.py").write_text("print(1)\n")
    (tmp_path / "nightly.yaml").write_text(
        "published: false\nschedule: '0 3 * * *'\nversion: '2'\n"
        "pipeline_data: {d: {}}\n"
        "steps:\n"
        "  - {kind: PythonScriptStep, name: a, script_name: s.py, outputs: [$data.d]}\n"
        "  - {kind: PythonScriptStep, name: b, script_name: s.py, run_after: [a],\n"
        "     inputs: [{data: $data.d, name: dl, mode: download, path_on_compute: /tmp/x}], arguments: [$data.d]}\n"
        "  - {kind: PythonScriptStep, name: c, script_name: s.py, run_after: [b]}\n"
    )
    dag = dag_from_yaml(str(tmp_path / "nightly.yaml"))
    assert dag.schedule == "0 3 * * *"
    assert "amlflow:published" not in dag.tags and "version:2" in dag.tags
    assert sorted((t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids) == [("a", "b"), ("b", "c")]
    b = dag.get_task("b")
    assert b.inputs[0]["name"] == "dl" and b.inputs[0]["mode"] == "download"
    assert b.inputs[0]["path_on_compute"] == "/tmp/x"
    assert b.arguments == [{"input": "dl"}]


def test_other_step_kinds_map_generically_a_data_transfer_feeding_a_script(tmp_path):
    """DataTransferStep from YAML (its own output as ``$output.copy``) equals the Python definition."""
    from airflow.sdk import DAG

    from amlflow.core import Datastore, Workspace
    from amlflow.data.data_reference import DataReference
    from amlflow.pipeline.core import Pipeline
    from amlflow.pipeline.steps import DataTransferStep, PythonScriptStep

    (tmp_path / "s.py").write_text("print(1)\n")
    (tmp_path / "transfer.yaml").write_text(
        "data_references:\n"
        "  raw: {datastore: lake, path_on_datastore: in/}\n"
        "  dest: {datastore: warehouse, path_on_datastore: out/}\n"
        "steps:\n"
        "  - {kind: DataTransferStep, name: copy, source_data_reference: $data.raw,\n"
        "     destination_data_reference: $data.dest, compute_target: adf, source_reference_type: directory}\n"
        "  - {kind: PythonScriptStep, name: use, script_name: s.py, inputs: [$output.copy],\n"
        "     arguments: [--in, $output.copy]}\n"
    )
    yaml_dag = dag_from_yaml(str(tmp_path / "transfer.yaml"))

    ws = Workspace()
    local_datastores("lake", "warehouse")
    raw = DataReference(Datastore(ws, "lake"), "raw", "in/")
    dest = DataReference(Datastore(ws, "warehouse"), "dest", "out/")
    copy = DataTransferStep(
        "copy",
        source_data_reference=raw,
        destination_data_reference=dest,
        compute_target="adf",
        source_reference_type="directory",
    )
    use = PythonScriptStep(
        "s.py",
        name="use",
        inputs=[copy.get_output()],
        arguments=["--in", copy.get_output()],
        source_directory=str(tmp_path),
    )
    with dag_file():
        python_dag = Pipeline(ws, [use]).publish(name="transfer").dag
    assert isinstance(python_dag, DAG)

    def tasks(dag):
        """Every plain-valued public attribute of every operator."""
        plain = (str, int, float, bool, list, dict, type(None))
        return {
            t.task_id: {k: v for k, v in vars(t).items() if not k.startswith("_") and isinstance(v, plain)}
            for t in dag.tasks
        }

    assert tasks(yaml_dag) == tasks(python_dag)
    assert {"inputs", "outputs", "compute_target"} <= set(tasks(yaml_dag)["copy"])
    assert shape_without_tasks(yaml_dag) == shape_without_tasks(python_dag)
    assert type(yaml_dag.get_task("copy")).__name__ != "PythonScriptStepOperator"
    assert yaml_dag.get_task("use").inputs[0]["task_id"] == "copy"


def shape_without_tasks(dag) -> dict:
    return {
        "edges": sorted((t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids),
        "operators": {t.task_id: type(t).__name__ for t in dag.tasks},
        "params": dict(dag.params),
    }
