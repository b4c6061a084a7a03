"""Microsoft's ``aml-pipelines-use-databricks-as-compute-target`` notebook, imports renamed, against the double.

The notebook's own code, cell by cell, as one script in its own process: it finds the compute target (the
deployment has its ``databricks`` connection, so ``DatabricksCompute(workspace=ws, name=...)`` finds it)
and the DBFS datastore (registered on the deployment, where registrations go), uploads its sample data,
and submits its six pipelines from the notebook, one after the other, each with
``RunDetails(pipeline_run).show()``: a workspace notebook, a DBFS script, a local script uploaded to DBFS, a
JAR, the same notebook on DBFS data (the ``Datastore.get`` / ``register_dbfs`` cell) on an existing cluster,
and the local script on that cluster with ``permit_cluster_restart=True``. What a user fills in (compute
name, notebook path, script and JAR paths) comes from the environment, as the notebook reads it; the
existing cluster's id is filled in where the notebook says "your existing cluster id". The double plays
the notebook (it reads ``input`` and writes ``output``, as the notebook in the sample does) and the scripts.
"""

from __future__ import annotations

import json
import os
import textwrap
from urllib.parse import urlsplit

import pytest

from tests.doubles.databricks import DatabricksDouble, Play
from tests.fixtures.databricks_double import connection
from tests.integration.test_notebook_submit import notebook_result, run_notebook

pytestmark = pytest.mark.integration

COMPUTE = "dbx-notebook"
NOTEBOOK_PATH = "/Users/example@databricks.com/example"
CLUSTER = "0408-101010-notebook"
DBFS_DATASTORE = "dbfs_datastore"
TESTDATA = "value1,value2\nvalue3,value4\n"
#: What the user fills in before running, read by the notebook with ``os.getenv``.
SETTINGS = {
    "DATABRICKS_COMPUTE_NAME": COMPUTE,
    "DATABRICKS_RESOURCE_GROUP": "rg-notebook",
    "DATABRICKS_WORKSPACE_NAME": "dbx-notebook",
    "DATABRICKS_NOTEBOOK_PATH": NOTEBOOK_PATH,
    "DATABRICKS_PYTHON_SCRIPT_PATH": "dbfs:/train-db-dbfs.py",
    "DATABRICKS_JAR_LIB_PATH": "dbfs:/train-db-dbfs.jar",
}
#: The notebook's local script (``databricks_train/train-db-local.py``).
TRAIN_DB_LOCAL = 'print("In train.py")\nprint("As a data scientist, this is where I use my training code.")\n'
EXPERIMENTS = (
    "DB_Notebook_demo",
    "DB_Python_demo",
    "DB_Python_Local_demo",
    "DB_JAR_demo",
    "DBFS_Reference_With_Existing",
    "DB_Python_Local_existing_demo",
)

NOTEBOOK = """
import os
import amlflow.core
from amlflow.core.runconfig import JarLibrary
from amlflow.core.compute import ComputeTarget, DatabricksCompute
from amlflow.exceptions import ComputeTargetException
from amlflow.core import Workspace, Experiment
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import DatabricksStep
from amlflow.core.datastore import Datastore
from amlflow.data.data_reference import DataReference

# Check core SDK version number
print("SDK version:", amlflow.core.VERSION)

ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep = '\\n')

# Replace with your account info before running.

db_compute_name=os.getenv("DATABRICKS_COMPUTE_NAME", "<my-databricks-compute-name>") # Databricks compute name
db_resource_group=os.getenv("DATABRICKS_RESOURCE_GROUP", "<my-db-resource-group>") # Databricks resource group
db_workspace_name=os.getenv("DATABRICKS_WORKSPACE_NAME", "<my-db-workspace-name>") # Databricks workspace name
db_access_token=os.getenv("DATABRICKS_ACCESS_TOKEN", "<my-access-token>") # Databricks access token

try:
    databricks_compute = DatabricksCompute(workspace=ws, name=db_compute_name)
    print('Compute target {} already exists'.format(db_compute_name))
except ComputeTargetException:
    print('Compute not found, will use below parameters to attach new one')
    print('db_compute_name {}'.format(db_compute_name))
    print('db_resource_group {}'.format(db_resource_group))
    print('db_workspace_name {}'.format(db_workspace_name))
    print('db_access_token {}'.format(db_access_token))

    config = DatabricksCompute.attach_configuration(
        resource_group = db_resource_group,
        workspace_name = db_workspace_name,
        access_token= db_access_token)
    databricks_compute=ComputeTarget.attach(ws, db_compute_name, config)
    databricks_compute.wait_for_completion(True)

from amlflow.pipeline.core import PipelineParameter

# Use the default blob storage
def_blob_store = Datastore(ws, "workspaceblobstore")
print('Datastore {} will be used'.format(def_blob_store.name))

pipeline_param = PipelineParameter(name="my_pipeline_param", default_value="pipeline_param1")

# We are uploading a sample file in the local directory to be used as a datasource
def_blob_store.upload_files(files=["./testdata.txt"], target_path="dbtest", overwrite=False)

step_1_input = DataReference(datastore=def_blob_store, path_on_datastore="dbtest",
                                     data_reference_name="input")

step_1_output = PipelineData("output", datastore=def_blob_store)

notebook_path=os.getenv("DATABRICKS_NOTEBOOK_PATH", "<my-databricks-notebook-path>") # Databricks notebook path

dbNbStep = DatabricksStep(
    name="DBNotebookInWS",
    inputs=[step_1_input],
    outputs=[step_1_output],
    num_workers=1,
    notebook_path=notebook_path,
    notebook_params={'myparam': 'testparam',
                     'myparam2': pipeline_param},
    run_name='DB_Notebook_demo',
    compute_target=databricks_compute,
    allow_reuse=True
)

steps = [dbNbStep]
pipeline = Pipeline(workspace=ws, steps=steps)
pipeline_run = Experiment(ws, 'DB_Notebook_demo').submit(pipeline)
pipeline_run.wait_for_completion()

from amlflow.widgets import RunDetails
RunDetails(pipeline_run).show()

# Databricks python script path
python_script_path = os.getenv("DATABRICKS_PYTHON_SCRIPT_PATH", "<my-databricks-python-script-path>")

dbPythonInDbfsStep = DatabricksStep(
    name="DBPythonInDBFS",
    inputs=[step_1_input],
    num_workers=1,
    python_script_path=python_script_path,
    python_script_params={'arg1', pipeline_param, 'arg2'},
    run_name='DB_Python_demo',
    compute_target=databricks_compute,
    allow_reuse=True
)

steps = [dbPythonInDbfsStep]
pipeline = Pipeline(workspace=ws, steps=steps)
pipeline_run = Experiment(ws, 'DB_Python_demo').submit(pipeline)
pipeline_run.wait_for_completion()

from amlflow.widgets import RunDetails
RunDetails(pipeline_run).show()

python_script_name = "train-db-local.py"
source_directory = "./databricks_train"

dbPythonInLocalMachineStep = DatabricksStep(
    name="DBPythonInLocalMachine",
    inputs=[step_1_input],
    num_workers=1,
    python_script_name=python_script_name,
    source_directory=source_directory,
    run_name='DB_Python_Local_demo',
    compute_target=databricks_compute,
    allow_reuse=True
)

steps = [dbPythonInLocalMachineStep]
pipeline = Pipeline(workspace=ws, steps=steps)
pipeline_run = Experiment(ws, 'DB_Python_Local_demo').submit(pipeline)
pipeline_run.wait_for_completion()

from amlflow.widgets import RunDetails
RunDetails(pipeline_run).show()

main_jar_class_name = "com.microsoft.aeva.Main"
jar_library_dbfs_path = os.getenv("DATABRICKS_JAR_LIB_PATH", "<my-databricks-jar-lib-path>") # Databricks jar library

dbJarInDbfsStep = DatabricksStep(
    name="DBJarInDBFS",
    inputs=[step_1_input],
    num_workers=1,
    main_class_name=main_jar_class_name,
    jar_params={'arg1', pipeline_param, 'arg2'},
    run_name='DB_JAR_demo',
    jar_libraries=[JarLibrary(jar_library_dbfs_path)],
    compute_target=databricks_compute,
    allow_reuse=True
)

steps = [dbJarInDbfsStep]
pipeline = Pipeline(workspace=ws, steps=steps)
pipeline_run = Experiment(ws, 'DB_JAR_demo').submit(pipeline)
pipeline_run.wait_for_completion()

from amlflow.widgets import RunDetails
RunDetails(pipeline_run).show()

try:
    dbfs_ds = Datastore.get(workspace=ws, datastore_name='dbfs_datastore')
    print('DBFS Datastore already exists')
except Exception as ex:
    dbfs_ds = Datastore.register_dbfs(ws, datastore_name='dbfs_datastore')

step_1_input = DataReference(datastore=dbfs_ds, path_on_datastore="FileStore", data_reference_name="input")
step_1_output = PipelineData("output", datastore=dbfs_ds)

dbNbWithExistingClusterStep = DatabricksStep(
    name="DBFSReferenceWithExisting",
    inputs=[step_1_input],
    outputs=[step_1_output],
    notebook_path=notebook_path,
    notebook_params={'myparam': 'testparam',
        'myparam2': pipeline_param},
    run_name='DBFS_Reference_With_Existing',
    compute_target=databricks_compute,
    existing_cluster_id="your existing cluster id",
    allow_reuse=True
)

steps = [dbNbWithExistingClusterStep]
pipeline = Pipeline(workspace=ws, steps=steps)
pipeline_run = Experiment(ws, 'DBFS_Reference_With_Existing').submit(pipeline)
pipeline_run.wait_for_completion()

from amlflow.widgets import RunDetails
RunDetails(pipeline_run).show()

step_1_input = DataReference(datastore=def_blob_store, path_on_datastore="dbtest",
                                     data_reference_name="input")

dbPythonInLocalWithExistingStep = DatabricksStep(
    name="DBPythonInLocalMachineWithExisting",
    inputs=[step_1_input],
    python_script_name=python_script_name,
    source_directory=source_directory,
    run_name='DB_Python_Local_existing_demo',
    compute_target=databricks_compute,
    existing_cluster_id="your existing cluster id",
    allow_reuse=False,
    permit_cluster_restart=True
)

steps = [dbPythonInLocalWithExistingStep]
pipeline = Pipeline(workspace=ws, steps=steps)
pipeline_run = Experiment(ws, 'DB_Python_Local_existing_demo').submit(pipeline)
pipeline_run.wait_for_completion()

from amlflow.widgets import RunDetails
RunDetails(pipeline_run).show()

import json  # test
experiments = EXPERIMENTS  # test
runs = {n: [(r.pipeline_id, r.id, r.get_status()) for r in Experiment(ws, n).get_runs()] for n in experiments}  # test
print("RESULT " + json.dumps(runs))  # test
""".replace('"your existing cluster id"', repr(CLUSTER)).replace("= EXPERIMENTS", f"= {EXPERIMENTS!r}")


def read_data(double: DatabricksDouble, uri: str) -> bytes:
    """What a cluster reads at ``uri``: a file on DBFS, or on this machine's disk (the local blob datastore)."""
    if uri.startswith("dbfs:"):
        return double.dbfs[uri.removeprefix("dbfs:")]
    with open(urlsplit(uri).path, "rb") as handle:
        return handle.read()


def write_data(double: DatabricksDouble, uri: str, data: bytes) -> None:
    if uri.startswith("dbfs:"):
        double.dbfs[uri.removeprefix("dbfs:")] = data
        return
    os.makedirs(os.path.dirname(urlsplit(uri).path), exist_ok=True)
    with open(urlsplit(uri).path, "wb") as handle:
        handle.write(data)


def demo_notebook(double: DatabricksDouble):
    """The sample's Databricks notebook: reads ``<input>/testdata.txt``, writes ``<output>/output.txt``."""

    def work(task: dict) -> None:
        widgets = task["notebook_task"]["base_parameters"]
        rows = read_data(double, widgets["input"] + "/testdata.txt").decode().splitlines()
        written = f"{widgets['myparam']},{widgets['myparam2']},{len(rows)} rows\n"
        write_data(double, widgets["output"] + "/output.txt", written.encode())

    return work


@pytest.fixture(scope="module")
def databricks_notebook(airflow_stack, databricks_double, tmp_path_factory):
    double = databricks_double
    # The deployment's side, made where registrations go (README "Where registrations go"): the
    # workspace's connection, and the DBFS datastore the notebook's Datastore.get then finds.
    dbfs = {"connection_id": DBFS_DATASTORE, "conn_type": "dbfs", "description": "amlflow datastore: DBFS"}
    for body in (connection(double, COMPUTE), dbfs):
        status, answer = airflow_stack.request("POST", "/api/v2/connections", body)
        assert status in (200, 201, 409), answer
    # Fast runs: each ends before the task's first look, so no step waits for the triggerer's next poll.
    double.play(
        NOTEBOOK_PATH, Play(pending=0, running=0, notebook_result="wrote output.txt", work=demo_notebook(double))
    )
    double.play("train-db-dbfs.py", Play(pending=0, running=0, logs="In train-db-dbfs.py"))
    double.play("train-db-local.py", Play(pending=0, running=0, logs="In train.py"))
    double.play("com.microsoft.aeva.Main", Play(pending=0, running=0, logs="In Main"))
    double.clusters[CLUSTER] = "TERMINATED"
    double.dbfs["/FileStore/testdata.txt"] = TESTDATA.encode()
    # The script and JAR the notebook names by DBFS path, there as on the real workspace.
    double.write_dbfs(SETTINGS["DATABRICKS_PYTHON_SCRIPT_PATH"].removeprefix("dbfs:"), b"print('In train.py')\n")
    double.write_dbfs(SETTINGS["DATABRICKS_JAR_LIB_PATH"].removeprefix("dbfs:"), b"PK\x03\x04 Main")
    folder = tmp_path_factory.mktemp("databricks_notebook")
    (folder / ".azureml").mkdir()
    (folder / ".azureml" / "config.json").write_text(json.dumps({"api_url": airflow_stack.url, "username": "admin"}))
    (folder / "testdata.txt").write_text(TESTDATA)
    (folder / "databricks_train").mkdir()
    (folder / "databricks_train" / "train-db-local.py").write_text(TRAIN_DB_LOCAL)
    (folder / "notebook.py").write_text(textwrap.dedent(NOTEBOOK))
    done = run_notebook(str(folder), airflow_stack, "notebook.py", **SETTINGS)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = notebook_result(done.stdout)
    return done.stdout, {name: [tuple(run) for run in found] for name, found in runs.items()}


def only_task(double: DatabricksDouble, entry: str, **match) -> dict:
    """The one task of the one run of ``entry`` whose task has the ``match`` fields."""
    tasks = [b["tasks"][0] for b in double.submitted(entry)]
    found = [t for t in tasks if all(t.get(k) == v for k, v in match.items())]
    assert len(found) == 1, tasks
    return found[0]


def uri_path(uri: str) -> str:
    """The path of a ``dbfs:/`` URI, as the double keeps DBFS files."""
    assert uri.startswith("dbfs:/"), uri
    return uri.removeprefix("dbfs:")


def test_the_notebook_found_the_deployments_databricks_target_and_dbfs_datastore(databricks_notebook):
    output, _runs = databricks_notebook
    assert f"Compute target {COMPUTE} already exists" in output
    assert "Compute not found" not in output
    assert "DBFS Datastore already exists" in output  # Datastore.get found it: no register_dbfs from here


@pytest.mark.parametrize(
    ("experiment", "step"),
    [
        ("DB_Notebook_demo", "DBNotebookInWS"),
        ("DB_Python_demo", "DBPythonInDBFS"),
        ("DB_Python_Local_demo", "DBPythonInLocalMachine"),
        ("DB_JAR_demo", "DBJarInDBFS"),
        ("DBFS_Reference_With_Existing", "DBFSReferenceWithExisting"),
        ("DB_Python_Local_existing_demo", "DBPythonInLocalMachineWithExisting"),
    ],
)
def test_each_of_the_six_pipelines_ran_once_and_finished(databricks_notebook, experiment, step):
    output, runs = databricks_notebook
    ((_pipeline_id, run_id, status),) = runs[experiment]
    assert status == "Finished"
    assert f"PipelineRun {run_id} Status: Finished" in output
    table = [line.split() for line in output.splitlines() if line.startswith(f"{step} ")]
    assert table and table[-1][1] == "Finished"  # RunDetails(pipeline_run).show()


def test_the_workspace_notebook_gets_its_widgets_on_a_new_cluster_and_writes_its_output(
    databricks_notebook, databricks_double
):
    (body,) = [b for b in databricks_double.submitted(NOTEBOOK_PATH) if b["run_name"] == "DB_Notebook_demo"]
    (task,) = body["tasks"]
    widgets = task["notebook_task"]["base_parameters"]
    assert {k: widgets[k] for k in ("myparam", "myparam2")} == {"myparam": "testparam", "myparam2": "pipeline_param1"}
    assert widgets["input"].endswith("/workspaceblobstore/dbtest")
    assert read_data(databricks_double, widgets["output"] + "/output.txt") == b"testparam,pipeline_param1,2 rows\n"
    assert task["new_cluster"]["node_type_id"] == "Standard_D3_v2" and int(task["new_cluster"]["num_workers"]) == 1
    assert "existing_cluster_id" not in task and "libraries" not in task


def script_parameters(params: list[str]) -> tuple[list[str], list[str]]:
    """``python_script_params``/``jar_params`` as sent: the set's items (order not kept, as in Azure ML) and the
    parameter's ``--MY_PIPELINE_PARAM <value>`` pair; then the inputs' ``-input <uri>`` pair."""
    at = params.index("--MY_PIPELINE_PARAM")
    pair = params[at : at + 2]
    return sorted(params[:at] + params[at + 2 : -2]), pair


def test_the_dbfs_script_and_the_jar_get_the_params_the_notebook_describes(databricks_notebook, databricks_double):
    (python_task,) = databricks_double.submitted("train-db-dbfs.py")[0]["tasks"]
    (jar_task,) = databricks_double.submitted("com.microsoft.aeva.Main")[0]["tasks"]
    assert python_task["spark_python_task"]["python_file"] == SETTINGS["DATABRICKS_PYTHON_SCRIPT_PATH"]
    assert jar_task["libraries"] == [{"jar": SETTINGS["DATABRICKS_JAR_LIB_PATH"]}]
    assert "libraries" not in python_task
    for params in (python_task["spark_python_task"]["parameters"], jar_task["spark_jar_task"]["parameters"]):
        assert script_parameters(params) == (["arg1", "arg2"], ["--MY_PIPELINE_PARAM", "pipeline_param1"])
        assert params[-2] == "-input" and params[-1].endswith("/workspaceblobstore/dbtest")


def test_the_local_script_is_uploaded_to_dbfs_and_run_from_there_on_each_cluster(
    databricks_notebook, databricks_double
):
    bodies = {b["run_name"]: b["tasks"][0] for b in databricks_double.submitted("train-db-local.py")}
    assert set(bodies) == {"DB_Python_Local_demo", "DB_Python_Local_existing_demo"}
    for task in bodies.values():
        script = task["spark_python_task"]["python_file"]
        params = task["spark_python_task"]["parameters"]
        assert databricks_double.dbfs[uri_path(script)] == TRAIN_DB_LOCAL.encode()
        assert params[:2] == ["-input", params[1]] and params[1].endswith("/workspaceblobstore/dbtest")
        assert params[2:] == ["--AZUREML_SCRIPT_DIRECTORY_NAME", script.rsplit("/", 1)[0]]
    assert "new_cluster" in bodies["DB_Python_Local_demo"]
    # permit_cluster_restart=True: submitted although the existing cluster is terminated (Databricks starts it).
    existing = bodies["DB_Python_Local_existing_demo"]
    assert existing["existing_cluster_id"] == CLUSTER and "new_cluster" not in existing


def test_the_notebook_on_dbfs_data_runs_on_the_existing_cluster_and_writes_to_dbfs(
    databricks_notebook, databricks_double
):
    (body,) = [b for b in databricks_double.submitted(NOTEBOOK_PATH) if b["run_name"] == "DBFS_Reference_With_Existing"]
    (task,) = body["tasks"]
    assert task["existing_cluster_id"] == CLUSTER and "new_cluster" not in task
    widgets = task["notebook_task"]["base_parameters"]
    assert widgets["input"] == "dbfs:/FileStore"
    assert databricks_double.dbfs[uri_path(widgets["output"]) + "/output.txt"] == b"testparam,pipeline_param1,2 rows\n"
