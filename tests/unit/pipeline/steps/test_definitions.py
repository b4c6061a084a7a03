"""The azureml-shaped API: import paths, names, defaults and the DAG a pipeline becomes."""

from __future__ import annotations

import importlib
import json
import os

import pytest

from amlflow.core import Datastore, Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.data.data_reference import DataReference
from amlflow.exceptions import ComputeTargetException
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter, StepSequence, dag_file
from amlflow.pipeline.steps import PythonScriptStep
from tests.conftest import ROOT, local_datastores
from tests.pipelines import parse_offline

AZUREML_IMPORTS = [
    (
        "azureml.core",
        ["Workspace", "Datastore", "ComputeTarget", "Experiment", "Run", "Environment", "RunConfiguration"],
    ),
    ("azureml.core.compute", ["ComputeTarget", "AmlCompute", "DatabricksCompute", "AdlaCompute", "DataFactoryCompute"]),
    ("azureml.core.authentication", ["InteractiveLoginAuthentication", "ServicePrincipalAuthentication"]),
    ("azureml.core.runconfig", ["RunConfiguration"]),
    ("azureml.core.environment", ["Environment"]),
    ("azureml.core.conda_dependencies", ["CondaDependencies"]),
    ("azureml.data.data_reference", ["DataReference"]),
    (
        "azureml.pipeline.core",
        [
            "Pipeline",
            "PipelineData",
            "PipelineParameter",
            "StepSequence",
            "PublishedPipeline",
            "PipelineRun",
            "StepRun",
        ],
    ),
    ("azureml.pipeline.steps", ["PythonScriptStep", "DatabricksStep", "AdlaStep", "DataTransferStep"]),
]


@pytest.mark.parametrize(("module", "names"), AZUREML_IMPORTS)
def test_azureml_import_paths_work_with_amlflow_in_their_place(module, names):
    imported = importlib.import_module(module.replace("azureml.", "amlflow.", 1))
    for name in names:
        assert isinstance(getattr(imported, name), type), f"{module}.{name}"


def test_every_name_of_the_short_public_api_resolves():
    import amlflow

    for name in amlflow.__all__[1:]:
        assert isinstance(getattr(amlflow, name), type), name


def test_data_objects_print_as_azure_ml_environment_variables():
    ws = Workspace()
    ref = DataReference(Datastore(ws, "workspaceblobstore"), data_reference_name="test_data", path_on_datastore="a")
    assert str(ref) == "$AZUREML_DATAREFERENCE_test_data"
    assert str(PipelineData("processed_data1")) == "$AZUREML_DATAREFERENCE_processed_data1"
    assert str(PipelineParameter("pipeline_arg", 10)) == "PipelineParameter_Name:pipeline_arg_Default:10"


def test_data_reference_defaults_and_clones():
    local_datastores("store")
    store = Datastore(Workspace(), "store")
    ref = DataReference(store, path_on_datastore="raw/data.csv")
    assert ref.mode == "mount" and ref.overwrite is False
    # Deterministic (not a random uuid as in AML): the DAG stays the same at every parse.
    assert ref.data_reference_name == DataReference(store, path_on_datastore="raw/data.csv").data_reference_name
    assert DataReference(store).data_reference_name == "store"
    download = ref.as_download(path_on_compute="data")
    assert (download.mode, download.path_on_compute, ref.mode) == ("download", "data", "mount")
    assert ref.as_upload().mode == "upload" and download.as_mount().mode == "mount"
    assert DataReference(store, "r", "raw").path("sub/x.csv").path_on_datastore == "raw/sub/x.csv"


def test_workspace_from_config_reads_azure_ml_config_file_and_keeps_identifiers(tmp_path):
    folder = tmp_path / ".azureml"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"subscription_id": "sub", "resource_group": "rg", "workspace_name": "ws1"})
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    ws = Workspace.from_config(path=str(nested))
    assert (ws.subscription_id, ws.resource_group, ws.name) == ("sub", "rg", "ws1")
    assert Workspace.get("other").name == "other"


def test_default_datastore_is_workspaceblobstore_unless_set():
    ws = Workspace()
    assert ws.get_default_datastore().name == "workspaceblobstore"
    assert Datastore(ws).name == "workspaceblobstore"
    ws.set_default_datastore("mystore")
    assert ws.get_default_datastore() == Datastore(ws, "mystore")


def test_seed_aml_compute_code_runs_unchanged():
    ws = Workspace()
    assert "aml-compute" not in ws.compute_targets
    with pytest.raises(ComputeTargetException):
        ComputeTarget(workspace=ws, name="aml-compute")
    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_NC6", min_nodes=1, max_nodes=4)
    target = ComputeTarget.create(ws, "aml-compute", config)
    target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)
    assert target.status.serialize() == {"provisioningState": "Succeeded"}
    found = ComputeTarget(workspace=ws, name="aml-compute")
    assert found is target and type(found) is AmlCompute and found.max_nodes == 4
    assert ws.compute_targets == {"aml-compute": target}


def _three_steps(tmp_path):
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text("")
    ws = Workspace()
    target = ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(max_nodes=3))
    data = PipelineData("data")
    param = PipelineParameter("alpha", 0.5)
    flag = PipelineParameter("flag", True)
    a = PythonScriptStep("a.py", arguments=["--out", data], outputs=[data], source_directory=str(tmp_path))
    b = PythonScriptStep(
        "b.py",
        arguments=["--in", data, "--alpha", param],
        inputs=[data],
        params={"flag": flag, "mode": "fast"},
        compute_target=target,
        source_directory=str(tmp_path),
    )
    c = PythonScriptStep("c.py", source_directory=str(tmp_path))
    c.run_after(b)
    return ws, a, b, c


def test_publish_makes_an_unpaused_dag_with_params_tasks_and_edges(tmp_path):
    ws, _a, _b, c = _three_steps(tmp_path)
    with dag_file():
        published = Pipeline(ws, [c], description="Three steps.\nMore text.").publish(name="three", version="2")
    dag = published.dag
    assert (published.id, published.status, published.total_run_steps) == ("three", "Active", 3)
    assert dag.dag_id == "three" and dag.is_paused_upon_creation is False
    assert dag.doc_md == "Three steps.\nMore text." and dag.description == "Three steps."
    assert {name: (p.value, p.schema["type"]) for name, p in dag.params.items()} == {
        "alpha": (0.5, "number"),
        "flag": (True, "boolean"),
        "amlflow": ({}, "object"),  # the run options (experiment, data paths), checked by Airflow
    }
    assert sorted(dag.task_ids) == ["a.py", "b.py", "c.py"]
    assert dag.get_task("b.py").upstream_task_ids == {"a.py"}
    assert dag.get_task("c.py").upstream_task_ids == {"b.py"}
    assert {"amlflow", "amlflow:published", "version:2"} <= set(dag.tags)


def test_operator_arguments_carry_paths_parameters_and_placement(tmp_path):
    ws, _a, _b, c = _three_steps(tmp_path)
    task = Pipeline(ws, [c]).as_dag("three").get_task("b.py")
    assert task.arguments == ["--in", {"input": "data"}, "--alpha", "{{ params['alpha'] }}"]
    assert task.step_params == {
        "AML_PARAMETER_alpha": "{{ params['alpha'] }}",
        "AML_PARAMETER_flag": "{{ params['flag'] }}",
        "AML_PARAMETER_mode": "fast",
    }
    assert task.inputs == [
        {
            "name": "data",
            "kind": "PipelineData",
            "task_id": "a.py",
            "output": "data",
            "mode": "mount",
            "path_on_compute": None,
        }
    ]
    assert (task.pool, task.queue) == ("cpu", "cpu")
    assert task.compute_target == {"name": "cpu", "type": "AmlCompute", "pool_slots_total": 3}


def test_as_dag_passes_dag_arguments_and_stays_paused_by_default(tmp_path):
    ws, _a, _b, c = _three_steps(tmp_path)
    dag = Pipeline(ws, [c]).as_dag("nightly", schedule="@daily", tags=["team-a"])
    assert dag.dag_id == "nightly" and "team-a" in dag.tags
    assert dag.is_paused_upon_creation is not False


def test_step_sequence_orders_steps_without_data(tmp_path):
    for name in ("a.py", "b.py", "c.py", "d.py"):
        (tmp_path / name).write_text("")
    a, b, c, d = (PythonScriptStep(n, source_directory=str(tmp_path)) for n in ("a.py", "b.py", "c.py", "d.py"))
    pipeline = Pipeline(Workspace(), StepSequence(steps=[[a, b], c, d]))
    assert pipeline.edges() == [("a.py", "c.py"), ("b.py", "c.py"), ("c.py", "d.py")]


def test_parsing_a_pipeline_file_touches_no_network_and_no_database():
    """The example DAG file parses with every socket refused and an unusable metadata database."""
    assert parse_offline(os.path.join(ROOT, "dags", "compare_models.py")) == {
        "Compare_Models": ["compare.py", "extract.py", "train.py"]
    }
