"""DatabricksStep: Azure ML's rules, raised at construction where Azure ML raises them, the others reported by
Pipeline.validate() naming the step and the field; attaching a Databricks workspace while a DAG file is parsed
contacts and writes nothing."""

from __future__ import annotations

import re

import pytest

from amlflow.core import Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget, DatabricksCompute
from amlflow.core.databricks import MavenLibrary
from amlflow.exceptions import ComputeTargetException
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import DatabricksStep


@pytest.fixture
def ws() -> Workspace:
    return Workspace()


def errors_of(ws: Workspace, **kwargs) -> list[str]:
    arguments = {"name": "dbx", "compute_target": "dbxws", "notebook_path": "/Shared/nb", "num_workers": 1}
    arguments.update(kwargs)
    return Pipeline(ws, [DatabricksStep(**{k: v for k, v in arguments.items() if v is not ...})]).validate()


def test_a_valid_step_has_no_errors_and_gets_azure_ml_cluster_defaults(ws):
    assert errors_of(ws) == []
    step = DatabricksStep(name="dbx", compute_target="dbxws", notebook_path="/Shared/nb", min_workers=1, max_workers=4)
    assert step.cluster_spec() == {
        "new_cluster": {
            "spark_version": "10.4.x-scala2.12",
            "node_type_id": "Standard_D3_v2",
            "autoscale": {"min_workers": 1, "max_workers": 4},
            "spark_env_vars": {"PYSPARK_PYTHON": "/databricks/python3/bin/python3"},
        }
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"notebook_path": None},
            "Exactly one of notebook_path, python_script_path, python_script_name or main_class_name is required",
        ),
        ({"python_script_path": "dbfs:/a.py"}, "Exactly one of notebook_path, python_script_path, python_script_name"),
        ({"notebook_path": 7}, "notebook_path must be a string"),
        ({"compute_target": ...}, "compute_target is required"),
        ({"num_workers": None}, "one of num_workers or min_workers and max_workers is required"),
        ({"min_workers": 1, "max_workers": 2}, "exactly one of num_workers or min_workers and max_workers is required"),
        ({"num_workers": "2"}, "num_workers must be an int"),
        ({"node_type": "D4", "instance_pool_id": "p"}, "Exactly one of node_type or instance_pool_id can be specified"),
        (
            {"permit_cluster_restart": True},
            "existing_cluster_id is not specified, you cannot set permit_cluster_restart",
        ),
        ({"timeout_seconds": "60"}, "timeout_seconds must be an int"),
        ({"run_name": 7}, "run_name must be a string"),
        (
            {"notebook_path": None, "python_script_name": "job.py"},
            "If python_script_name is specified then source_directory",
        ),
        (
            {"runconfig": object(), "pypi_libraries": ["x"]},
            "Either pass runconfig or each library type as a separate parameter",
        ),
    ],
)
def test_what_azure_ml_refuses_at_construction_fails_there_with_its_value_error(kwargs, message):
    arguments = {"name": "dbx", "compute_target": "dbxws", "notebook_path": "/Shared/nb", "num_workers": 1, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        DatabricksStep(**{k: v for k, v in arguments.items() if v is not ...})


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"compute_target": ("cpu", "AmlCompute")},
            "field 'compute_target': AmlCompute(name='cpu') is not a Databricks",
        ),
        ({"num_workers": None, "min_workers": 3, "max_workers": 2}, "field 'min_workers': 3 is more than max_workers"),
        ({"num_workers": -1}, "field 'num_workers': must be a non-negative integer, got -1"),
        (
            {"existing_cluster_id": "c-1"},
            "field 'existing_cluster_id': runs on an existing cluster; num_workers describe a new one",
        ),
        ({"timeout_seconds": -5}, "field 'timeout_seconds': must be 0 (no timeout) or more"),
        ({"notebook_params": ["a"]}, "field 'notebook_params': must be a dict, got list"),
        ({"python_script_params": ["--x"]}, "field 'python_script_params': only applies with python_script_path"),
        ({"pypi_libraries": "pandas"}, "field 'pypi_libraries': must be a list, got str"),
        ({"maven_libraries": [3]}, "field 'maven_libraries': 3 is not a MavenLibrary"),
        ({"runconfig": object()}, "field 'runconfig': amlflow does not read a runconfig for DatabricksStep"),
    ],
)
def test_each_rule_names_the_step_and_the_field(ws, kwargs, expected):
    errors = errors_of(ws, **kwargs)
    assert len(errors) == 1, errors
    assert errors[0].startswith("step 'dbx', ") and expected in errors[0]


def test_python_script_name_needs_its_source_directory_and_script(ws, tmp_path):
    errors = errors_of(ws, notebook_path=None, python_script_name="job.py", source_directory=str(tmp_path))
    assert errors == [f"step 'dbx', field 'python_script_name': script not found at {tmp_path / 'job.py'}"]
    (tmp_path / "job.py").write_text("print(1)\n")
    assert errors_of(ws, notebook_path=None, python_script_name="job.py", source_directory=str(tmp_path)) == []


def test_a_jar_step_needs_its_jar(ws):
    errors = errors_of(ws, notebook_path=None, main_class_name="com.example.Main")
    assert errors == ["step 'dbx', field 'jar_libraries': main_class_name needs the JAR that holds it in jar_libraries"]
    assert errors_of(ws, notebook_path=None, main_class_name="com.example.Main", jar_libraries=["dbfs:/a.jar"]) == []


def test_data_in_params_must_be_an_input_or_output(ws):
    data = PipelineData("scores")
    errors = errors_of(ws, notebook_params={"scores": data})
    assert errors == [
        "step 'dbx', field 'notebook_params': PipelineData 'scores' is used here but is not in inputs or outputs"
    ]
    assert errors_of(ws, notebook_params={"scores": data}, outputs=[data]) == []


def test_the_samples_set_params_get_a_stable_order(ws):
    step = DatabricksStep(
        name="dbx",
        compute_target="dbxws",
        python_script_path="dbfs:/a.py",
        python_script_params={"b", "a", "c"},
        num_workers=1,
    )
    assert step.python_script_params == ["a", "b", "c"]
    libraries = DatabricksStep(
        name="x",
        compute_target="w",
        notebook_path="/n",
        num_workers=1,
        maven_libraries=[MavenLibrary("g:a:1", exclusions=["g:b"])],
    ).library_specs()
    assert libraries == [{"maven": {"coordinates": "g:a:1", "exclusions": ["g:b"]}}]


@pytest.mark.parametrize(
    ("entry", "params_field"),
    [({"python_script_path": "dbfs:/a.py"}, "python_script_params"), ({"main_class_name": "M"}, "jar_params")],
)
def test_a_pipeline_parameter_reaches_the_script_as_its_capitalised_name_then_its_value(ws, entry, params_field):
    """As the Databricks notebook says: ``--MY_PIPELINE_PARAM`` followed by the value, the set's order not kept."""
    from amlflow.pipeline.core import PipelineParameter

    param = PipelineParameter(name="my_pipeline_param", default_value="pipeline_param1")
    step = DatabricksStep(
        name="dbx",
        compute_target="dbxws",
        num_workers=1,
        jar_libraries=["dbfs:/a.jar"],
        **entry,
        **{params_field: {"arg1", param, "arg2"}},
    )
    line = step.command_line()
    at = line.index("--MY_PIPELINE_PARAM")
    assert line[at + 1] is param and sorted(line[:at] + line[at + 2 :]) == ["arg1", "arg2"]
    assert step.parameters() == [param]
    assert step.constructor_arguments[params_field] == getattr(step, params_field)  # a list YAML can write


def test_the_seeds_attach_code_records_the_target_and_hides_the_token(ws):
    with pytest.raises(ComputeTargetException):
        ComputeTarget(workspace=ws, name="dbxws")
    config = DatabricksCompute.attach_configuration(
        resource_group="rg", workspace_name="ws1", access_token="dapi-secret-value"
    )
    target = ComputeTarget.attach(ws, "dbxws", config)
    target.wait_for_completion(True)
    assert "dapi-secret-value" not in repr(config) + repr(target)
    assert ComputeTarget(workspace=ws, name="dbxws") is target
    assert ws.compute_targets["dbxws"].type == "Databricks"
    assert target.task_placement() == {}  # no pool or queue: the work runs on Databricks


def test_a_databricks_step_without_attach_names_an_existing_connection(ws):
    from amlflow.core.compute import resolve_compute

    step = DatabricksStep(name="dbx", compute_target="prod-dbx", notebook_path="/n", num_workers=1)
    target = resolve_compute(ws, step.compute_target)
    assert isinstance(target, DatabricksCompute) and target.databricks_conn_id == "prod-dbx"
    assert isinstance(resolve_compute(ws, "cpu"), AmlCompute)  # a bare name elsewhere is still a cluster


def test_parsing_a_file_that_attaches_writes_no_connection(airflow_db, tmp_path):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    from amlflow.commands.computes import attached_computes

    dag_file = tmp_path / "attach_only.py"
    dag_file.write_text(
        "from amlflow.core import Workspace\n"
        "from amlflow.core.compute import ComputeTarget, DatabricksCompute\n"
        "from amlflow.pipeline.core import Pipeline\n"
        "from amlflow.pipeline.steps import DatabricksStep\n"
        "ws = Workspace()\n"
        "cfg = DatabricksCompute.attach_configuration(resource_group='rg', workspace_name='w', access_token='t0k')\n"
        "target = ComputeTarget.attach(ws, 'parse-only-dbx', cfg)\n"
        "step = DatabricksStep(name='s', compute_target=target, notebook_path='/n', num_workers=1)\n"
        "dag = Pipeline(ws, [step]).as_dag('attach_only')\n"
    )
    bag = DagBag(dag_folder=str(dag_file), safe_mode=True)
    assert not bag.import_errors and "attach_only" in bag.dags
    with create_session() as session:
        assert session.query(Connection).filter_by(conn_id="parse-only-dbx").one_or_none() is None
    task = bag.dags["attach_only"].get_task("s")
    assert task.databricks_conn_id == "parse-only-dbx" and "t0k" not in repr(vars(task))
    assert "parse-only-dbx" in attached_computes([str(dag_file)])
