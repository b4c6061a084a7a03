"""Microsoft's ``aml-pipelines-getting-started`` notebook, imports renamed, on the session stack and Docker engine.

The notebook's own code, cell by cell, as one script in its own process: it uploads a file to the default
datastore, lists the compute targets, creates ``cpu-cluster`` when ``AmlCompute(ws, name)`` does not find
it, builds three PythonScriptSteps (the third in Docker with a conda package), submits them to run in
parallel, then chains them with ``run_after`` and submits the last one alone (the pipeline finds the
other two). One change, of data: the notebook downloads Titanic.csv, here it writes a few rows of it
(these machines reach no internet). The third step's conda package is ``tabulate=0.9`` instead of
scikit-learn, so that its image builds in seconds; the worker has tabulate 0.10, so the step's output
says which Python it ran in. The lines marked "test" are the test's own: the notebook leaves its runs
going, the test waits for them.
"""

from __future__ import annotations

import json
import os
import textwrap
from datetime import datetime

import pytest

from amlflow.core.conda_dependencies import CondaDependencies
from amlflow.core.runconfig import RunConfiguration
from amlflow.runtime.images import image_tag
from tests.integration.test_notebook_submit import notebook_result, run_notebook

pytestmark = pytest.mark.integration

NOTEBOOK = """
import os
import requests
import tempfile
import amlflow.core
from amlflow.core import Workspace, Experiment, Datastore
from amlflow.widgets import RunDetails

# Check core SDK version number
print("SDK version:", amlflow.core.VERSION)

from amlflow.pipeline.core import Pipeline
from amlflow.pipeline.steps import PythonScriptStep

print("Pipeline SDK-specific imports completed")

ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep = '\\n')

# Default datastore
def_blob_store = ws.get_default_datastore()
# The following call GETS the Azure Blob Store associated with your workspace.
# Note that workspaceblobstore is **the name of this store and CANNOT BE CHANGED and must be used as is**
def_blob_store = Datastore(ws, "workspaceblobstore")
print("Blobstore's name: {}".format(def_blob_store.name))

# the notebook downloads https://dprepdata.blob.core.windows.net/demo/Titanic.csv; these are its first rows
titanic_file = os.path.join(tempfile.mkdtemp(), "Titanic.csv")
with open(titanic_file, "w") as f:
    f.write(TITANIC)
# get_default_datastore() gets the default Azure Blob Store associated with your workspace.
# Here we are reusing the def_blob_store object we obtained earlier
def_blob_store.upload_files([titanic_file], target_path="titanic", overwrite=True)
print("Upload call completed")

cts = ws.compute_targets
for ct in cts:
    print(ct)

from amlflow.core.compute import ComputeTarget, AmlCompute
from amlflow.core.compute_target import ComputeTargetException

aml_compute_target = "cpu-cluster"
try:
    aml_compute = AmlCompute(ws, aml_compute_target)
    print("found existing compute target.")
except ComputeTargetException:
    print("creating new compute target")

    provisioning_config = AmlCompute.provisioning_configuration(vm_size = "STANDARD_D2_V2",
                                                                min_nodes = 1,
                                                                max_nodes = 4)
    aml_compute = ComputeTarget.create(ws, aml_compute_target, provisioning_config)
    aml_compute.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)

print("Azure Machine Learning Compute attached")

# For a more detailed view of current Azure Machine Learning Compute status, use get_status()
# example: un-comment the following line.
print(aml_compute.get_status().serialize())  # test: un-commented

# Uses default values for PythonScriptStep construct.

source_directory = './train'
print('Source directory for the step is {}.'.format(os.path.realpath(source_directory)))

step1 = PythonScriptStep(name="train_step",
                         script_name="train.py",
                         compute_target=aml_compute,
                         source_directory=source_directory,
                         allow_reuse=True)
print("Step1 created")

# For this step, we use a different source_directory
source_directory = './compare'
print('Source directory for the step is {}.'.format(os.path.realpath(source_directory)))

# All steps use the same Azure Machine Learning compute target as well
step2 = PythonScriptStep(name="compare_step",
                         script_name="compare.py",
                         compute_target=aml_compute,
                         source_directory=source_directory)

# Use a RunConfiguration to specify some additional requirements for this step.
from amlflow.core.runconfig import RunConfiguration
from amlflow.core.conda_dependencies import CondaDependencies
from amlflow.core.runconfig import DEFAULT_CPU_IMAGE

# create a new runconfig object
run_config = RunConfiguration()

# enable Docker
run_config.environment.docker.enabled = True

# set Docker base image to the default CPU-based image
run_config.environment.docker.base_image = DEFAULT_CPU_IMAGE

# use conda_dependencies.yml to create a conda environment in the Docker image for execution
run_config.environment.python.user_managed_dependencies = False

# specify CondaDependencies obj
run_config.environment.python.conda_dependencies = CondaDependencies.create(conda_packages=[CONDA_PACKAGE])

# For this step, we use yet another source_directory
source_directory = './extract'
print('Source directory for the step is {}.'.format(os.path.realpath(source_directory)))

step3 = PythonScriptStep(name="extract_step",
                         script_name="extract.py",
                         compute_target=aml_compute,
                         source_directory=source_directory,
                         runconfig=run_config)

# list of steps to run
steps = [step1, step2, step3]
print("Step lists created")

pipeline1 = Pipeline(workspace=ws, steps=steps)
print ("Pipeline is built")

pipeline1.validate()
print("Pipeline validation complete")

pipeline_run1 = Experiment(ws, 'Hello_World1').submit(pipeline1, regenerate_outputs=False)
print("Pipeline is submitted for execution")

RunDetails(pipeline_run1).show()

step_runs = pipeline_run1.get_children()
for step_run in step_runs:
    status = step_run.get_status()
    print('Script:', step_run.name, 'status:', status)

    # Change this if you want to see details even if the Step has succeeded.
    if status == "Failed":
        joblog = step_run.get_job_log()
        print('job log:', joblog)

pipeline_run1.wait_for_completion()  # test: the notebook's commented-out cell
for step_run in pipeline_run1.get_children():
    print("{}: {}".format(step_run.name, step_run.get_metrics()))

step2.run_after(step1)
step3.run_after(step2)

# Now, construct the pipeline using the steps.

# We can specify the "final step" in the chain,
# Pipeline will take care of "transitive closure" and
# figure out the implicit or explicit dependencies
# https://www.geeksforgeeks.org/transitive-closure-of-a-graph/
pipeline2 = Pipeline(workspace=ws, steps=[step3])
print ("Pipeline is built")

pipeline2.validate()
print("Simple validation complete")

pipeline_run2 = Experiment(ws, 'Hello_World2').submit(pipeline2)
print("Pipeline is submitted for execution")

RunDetails(pipeline_run2).show()

import json  # test
pipeline_run2.wait_for_completion()  # test
runs = {"run1": pipeline_run1.id, "dag1": pipeline_run1.pipeline_id}  # test
runs.update(run2=pipeline_run2.id, dag2=pipeline_run2.pipeline_id, status2=pipeline_run2.get_status())  # test
runs.update(status1=pipeline_run1.get_status(), steps2=[s.name for s in pipeline2.steps])  # test
print("RESULT " + json.dumps(runs))  # test
"""

#: The first rows of the Titanic.csv the notebook downloads.
TITANIC = """\
PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked
1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S
2,1,1,"Cumings, Mrs. John Bradley (Florence Briggs Thayer)",female,38,1,0,PC 17599,71.2833,C85,C
3,1,3,"Heikkinen, Miss. Laina",female,26,0,0,STON/O2. 3101282,7.925,,S
"""
CONDA_PACKAGE = "tabulate=0.9"

#: The notebook's step scripts (intro-to-pipelines/train, compare, extract): print, parse, make the output
#: folder. extract.py also imports its environment's package and says where it ran.
SCRIPTS = {
    "train/train.py": """
        import argparse, os
        print("In train.py")
        print("As a data scientist, this is where I use my training code.")
        parser = argparse.ArgumentParser("train")
        parser.add_argument("--input_data", type=str, help="input data")
        parser.add_argument("--output_train", type=str, help="output_train directory")
        args = parser.parse_args()
        print("Argument 1: %s" % args.input_data)
        print("Argument 2: %s" % args.output_train)
        if args.output_train is not None:
            os.makedirs(args.output_train, exist_ok=True)
    """,
    "compare/compare.py": """
        import argparse, os
        print("In compare.py")
        print("As a data scientist, this is where I use my compare code.")
        parser = argparse.ArgumentParser("compare")
        parser.add_argument("--compare_data1", type=str, help="compare_data1 data")
        parser.add_argument("--compare_data2", type=str, help="compare_data2 data")
        parser.add_argument("--output_compare", type=str, help="output_compare directory")
        parser.add_argument("--pipeline_param", type=int, help="pipeline parameter")
        args = parser.parse_args()
        print("Argument 1: %s" % args.compare_data1)
        print("Argument 2: %s" % args.compare_data2)
    """,
    "extract/extract.py": """
        import argparse, sys
        import tabulate
        print("In extract.py")
        print("As a data scientist, this is where I use my extract code.")
        parser = argparse.ArgumentParser("extract")
        parser.add_argument("--input_extract", type=str, help="input_extract data")
        parser.add_argument("--output_extract", type=str, help="output_extract directory")
        args = parser.parse_args()
        print("Argument 1: %s" % args.input_extract)
        print("extract ran with tabulate %s in %s" % (tabulate.__version__, sys.executable))
    """,
}

#: ``RunConfiguration()``'s environment: the label of the image amlflow builds for it.
ENVIRONMENT = "default-environment"


@pytest.fixture(scope="module")
def getting_started(docker_engine, airflow_stack, tmp_path_factory):
    if airflow_stack.env["DOCKER_HOST"] != docker_engine.url:
        pytest.skip(
            f"the stack's workers use Docker at {airflow_stack.env['DOCKER_HOST']}, the engine is at "
            f"{docker_engine.url} (AMLFLOW_TEST_DOCKER_URL does not answer)"
        )
    remove_images_of_the_docker_step(docker_engine)
    folder = tmp_path_factory.mktemp("getting_started")
    for path, body in SCRIPTS.items():
        (folder / path).parent.mkdir(exist_ok=True)
        (folder / path).write_text(textwrap.dedent(body))
    (folder / ".azureml").mkdir()
    config = {"subscription_id": "0000-sub", "resource_group": "pipelines-rg", "workspace_name": "getting-started"}
    config.update(location="westeurope", api_url=airflow_stack.url, username="admin")
    (folder / ".azureml" / "config.json").write_text(json.dumps(config))
    notebook = textwrap.dedent(NOTEBOOK).replace("TITANIC", repr(TITANIC)).replace("CONDA_PACKAGE", repr(CONDA_PACKAGE))
    (folder / "notebook.py").write_text(notebook)
    # Other notebooks of the session may have made cpu-cluster already: then the notebook finds it.
    existed = airflow_stack.request("GET", "/api/v2/pools/cpu-cluster")[0] == 200
    done = run_notebook(str(folder), airflow_stack, "notebook.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, {**notebook_result(done.stdout), "cluster_existed": existed}


def remove_images_of_the_docker_step(docker_engine) -> None:
    """Make the third step build its image: images outlive sessions, and the step reuses any image of its
    content, labelled with the name of whichever environment built it first."""
    run_config = RunConfiguration()
    run_config.environment.python.conda_dependencies = CondaDependencies.create(conda_packages=[CONDA_PACKAGE])
    recipe = {**run_config.environment.image_recipe(), "base_image": docker_engine.base_image}
    client = docker_engine.client()
    images = client.images(name=image_tag(client, recipe))
    images += client.images(filters={"label": f"amlflow.environment={ENVIRONMENT}"})
    for image_id in {image["Id"] for image in images}:
        client.remove_image(image_id, force=True)


def task_instances(stack, dag_id: str, run_id: str) -> dict[str, dict]:
    status, answer = stack.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
    assert status == 200, answer
    return {ti["task_id"]: ti for ti in answer["task_instances"]}


def test_the_notebook_runs_both_pipelines_to_finished(getting_started, airflow_stack):
    output, result = getting_started
    assert (result["status1"], result["status2"]) == ("Finished", "Finished")
    assert result["steps2"] == ["extract_step", "compare_step", "train_step"]  # [step3] and its closure
    for dag_key, run_key in (("dag1", "run1"), ("dag2", "run2")):
        states = {t: ti["state"] for t, ti in task_instances(airflow_stack, result[dag_key], result[run_key]).items()}
        assert states == {"train_step": "success", "compare_step": "success", "extract_step": "success"}
    assert "Pipeline validation complete" in output and "Simple validation complete" in output


def test_the_second_run_honours_run_after(getting_started, airflow_stack):
    _output, result = getting_started
    tis = task_instances(airflow_stack, result["dag2"], result["run2"])
    times = {
        t: (datetime.fromisoformat(ti["start_date"]), datetime.fromisoformat(ti["end_date"])) for t, ti in tis.items()
    }
    assert times["train_step"][1] <= times["compare_step"][0]
    assert times["compare_step"][1] <= times["extract_step"][0]


def test_the_second_run_reuses_the_first_runs_steps(getting_started):
    # The notebook's note on allow_reuse: unchanged scripts and inputs, so no step runs again.
    output, result = getting_started
    lines = output.splitlines()
    for step in ("train_step", "compare_step", "extract_step"):
        assert f"StepRun( {step} ) Status: Finished (reused)" in lines
        last_row = [line for line in lines if line.startswith(f"{step} ")][-1]  # RunDetails(pipeline_run2)
        assert last_row.split()[-1] == result["run1"]


def test_the_created_compute_target_is_a_pool_of_max_nodes_slots(getting_started, airflow_stack):
    output, result = getting_started
    branch = "found existing compute target." if result["cluster_existed"] else "creating new compute target"
    other = "creating new compute target" if result["cluster_existed"] else "found existing compute target."
    assert branch in output and other not in output
    status, pool = airflow_stack.request("GET", "/api/v2/pools/cpu-cluster")
    assert status == 200 and pool["slots"] == 4, pool
    tis = task_instances(airflow_stack, result["dag1"], result["run1"])
    assert {ti["pool"] for ti in tis.values()} == {"cpu-cluster"}
    assert {ti["queue"] for ti in tis.values()} == {"cpu-cluster"}


def test_the_docker_step_ran_in_a_container_with_the_conda_package_from_pip(
    getting_started, airflow_stack, docker_engine
):
    _output, result = getting_started
    log = airflow_stack.task_log(result["dag1"], result["run1"], "extract_step")
    assert "conda package tabulate=0.9 is installed with pip as tabulate==0.9.*" in log
    assert "extract ran with tabulate 0.9.0 in /usr/bin/python" in log  # the image's Python, not the worker's
    built = docker_engine.client().images(filters={"label": f"amlflow.environment={ENVIRONMENT}"})
    assert len(built) == 1 and built[0]["Labels"]["amlflow.base_image"] == docker_engine.base_image
    local = airflow_stack.task_log(result["dag1"], result["run1"], "train_step")
    assert "In train.py" in local and "in a container" not in local


def test_the_notebook_uploads_lists_and_shows_what_azure_ml_shows(getting_started, airflow_stack):
    output, _result = getting_started
    lines = output.splitlines()
    assert lines[0].startswith("SDK version: ")
    assert lines[2:6] == ["getting-started", "pipelines-rg", "westeurope", "0000-sub"]
    assert "Blobstore's name: workspaceblobstore" in lines
    uploaded = os.path.join(airflow_stack.datastore_root, "workspaceblobstore", "titanic", "Titanic.csv")
    with open(uploaded) as handle:
        assert handle.read() == TITANIC
    # get_children() lists the steps started so far (none, or some, right after the submit), all once done.
    steps = {"train_step", "compare_step", "extract_step"}
    assert {line.split()[1] for line in lines if line.startswith("Script: ")} <= steps
    assert {f"{step}: {{}}" for step in steps} <= set(lines)  # no step logs metrics
    tables = [line for line in lines if line.startswith("extract_step ")]
    assert tables and tables[-1].split()[1] == "Finished"  # RunDetails(pipeline_run2).show()
