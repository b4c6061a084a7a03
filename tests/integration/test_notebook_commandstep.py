"""Microsoft's ``aml-pipelines-with-commandstep`` notebook, imports renamed, on the session's stack.

The notebook's own cells, cell by cell, as one script in its own process: a curated environment from
``Environment.get``, a ``ScriptRunConfig`` with a command, and a ``CommandStep`` that takes it, submitted
in an experiment. Changes, each marked ``# test``: the notebook's ``train.py`` (TensorFlow on MNIST) is a
tiny stand-in that parses ``--epochs``, writes a model file and prints what it did; its
``MpiConfiguration(node_count=2)`` is ``node_count=1``, as amlflow runs a step as one process (the
original's refusal is its own test below); and the run is waited for, then submitted again, to be reused.
Additions: a CommandStep between two PythonScriptSteps, reading a PipelineData and writing one; and,
on a real Docker engine (skipped where there is none), a CommandStep on a DockerCompute target.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.conftest import DAGS
from tests.integration.test_notebook_submit import run_notebook_text
from tests.pipelines import local_output, output_location, run_dag, task_states

pytestmark = pytest.mark.integration

TRAIN = """
import argparse
import os
import sys

import amlflow.core  # the worker's own Python: where amlflow is installed

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--data")
parser.add_argument("--model", default="outputs")
args = parser.parse_args()

seen = "no data"
if args.data:
    with open(os.path.join(args.data, "rows.txt")) as handle:
        seen = handle.read().strip()
os.makedirs(args.model, exist_ok=True)
with open(os.path.join(args.model, "model.txt"), "w") as handle:
    handle.write(f"trained {args.epochs} epochs on {seen}")
print(f"TRAINED epochs={args.epochs} data={seen} run={os.environ['AZUREML_RUN_ID']} python={sys.executable}")
"""

NOTEBOOK = """
import json, os, sys  # test
import amlflow.core
# check core SDK version number
print("Azure ML SDK Version: ", amlflow.core.VERSION)

from amlflow.core import Workspace
ws = Workspace.from_config()
print('Workspace name: ' + ws.name,
      'Azure region: ' + ws.location,
      'Subscription id: ' + ws.subscription_id,
      'Resource group: ' + ws.resource_group, sep = '\\n')

from amlflow.core.compute import ComputeTarget, AmlCompute
from amlflow.core.compute_target import ComputeTargetException

# choose a name for your cluster
cluster_name = "gpu-cluster"

try:
    gpu_cluster = ComputeTarget(workspace=ws, name=cluster_name)
    print('Found existing compute target')
except ComputeTargetException:
    print('Creating a new compute target...')
    compute_config = AmlCompute.provisioning_configuration(vm_size='Standard_NC6s_v3', max_nodes=4)

    # create the cluster
    gpu_cluster = ComputeTarget.create(ws, cluster_name, compute_config)

    # can poll for a minimum number of nodes and for a specific timeout.
    # if no min node count is provided it uses the scale settings for the cluster
    gpu_cluster.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)

# use get_status() to get a detailed status for the current cluster.
print(gpu_cluster.get_status().serialize())

from amlflow.core import Environment

tf_env = Environment.get(ws, name='AzureML-TensorFlow-2.3-GPU')

from amlflow.core import ScriptRunConfig
from amlflow.core.runconfig import MpiConfiguration

src_dir = 'commandstep_train'
distr_config = MpiConfiguration(node_count=NODE_COUNT) # test: 1 (amlflow runs a step as one process)

src = ScriptRunConfig(source_directory=src_dir,
                      command=['python train.py --epochs 30'],
                      compute_target=gpu_cluster,
                      environment=tf_env,
                      distributed_job_config=distr_config)

from amlflow.pipeline.steps import CommandStep

train = CommandStep(name='train-mnist', runconfig=src)

from amlflow.pipeline.core import Pipeline
from amlflow.core import Experiment

pipeline = Pipeline(workspace=ws, steps=[train])
try:  # test: the refusal of a distributed configuration is what the test of node_count=2 reads
    pipeline_run = Experiment(ws, 'train-commandstep-pipeline').submit(pipeline)
except Exception as error:  # test
    print("RESULT " + json.dumps({"error": str(error)}))  # test
    sys.exit(0)  # test

from amlflow.widgets import RunDetails
RunDetails(pipeline_run).show()
pipeline_run.wait_for_completion()  # test: the notebook leaves the run to its widget

again = Experiment(ws, 'train-commandstep-pipeline').submit(pipeline)  # test: the same step again is reused
again.wait_for_completion()  # test

# test: a CommandStep between two PythonScriptSteps, with a PipelineData in and one out
from amlflow.pipeline.core import PipelineData  # test
from amlflow.pipeline.steps import PythonScriptStep  # test
prepared = PipelineData("prepared", datastore=ws.get_default_datastore())  # test
model = PipelineData("model", datastore=ws.get_default_datastore())  # test
prep = PythonScriptStep(script_name="prep.py", arguments=["--out", prepared], outputs=[prepared],  # test
                        compute_target=gpu_cluster, source_directory="helpers")  # test
train_on_data = CommandStep(command=["python train.py --epochs 2 --data", prepared, "--model", model],  # test
                            name="train-on-data", inputs=[prepared], outputs=[model],  # test
                            compute_target=gpu_cluster, source_directory=src_dir)  # test
report = PythonScriptStep(script_name="report.py", arguments=["--model", model], inputs=[model],  # test
                          compute_target=gpu_cluster, source_directory="helpers")  # test
data_run = Experiment(ws, 'commandstep-data').submit(Pipeline(ws, [prep, train_on_data, report]))  # test
data_run.wait_for_completion()  # test

runs = {"notebook": pipeline_run, "again": again, "data": data_run}  # test
print("RESULT " + json.dumps({  # test
    "status": {key: run.get_status() for key, run in runs.items()},
    "train_log": pipeline_run.find_step_run("train-mnist")[0].get_job_log(),
    "reused": again.find_step_run("train-mnist")[0].is_reused,
    "data_log": data_run.find_step_run("train-on-data")[0].get_job_log(),
    "report_log": data_run.find_step_run("report.py")[0].get_job_log(),
}))
"""

HELPERS = {
    "helpers/prep.py": """
        import argparse, os
        parser = argparse.ArgumentParser()
        parser.add_argument("--out")
        args = parser.parse_args()
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "rows.txt"), "w") as handle:
            handle.write("42 rows")
    """,
    "helpers/report.py": """
        import argparse, os
        parser = argparse.ArgumentParser()
        parser.add_argument("--model")
        args = parser.parse_args()
        with open(os.path.join(args.model, "model.txt")) as handle:
            print("REPORT " + handle.read())
    """,
}


def notebook(node_count: int) -> str:
    return NOTEBOOK.replace("NODE_COUNT", str(node_count))


@pytest.fixture(scope="module")
def commandstep_notebook(airflow_stack, tmp_path_factory):
    files = {"commandstep_train/train.py": TRAIN, **HELPERS}
    return run_notebook_text(airflow_stack, tmp_path_factory.mktemp("commandstep"), notebook(1), files)


def test_the_notebooks_command_runs_with_the_workers_python_and_is_reused(commandstep_notebook):
    assert commandstep_notebook["status"] == {"notebook": "Finished", "again": "Finished", "data": "Finished"}
    log = commandstep_notebook["train_log"]
    assert "TRAINED epochs=30 data=no data run=" in log, log
    # ``python`` in the command is the workers' interpreter (the stack runs on this one), not the first on PATH.
    assert f"python={sys.executable}" in log
    assert "Environment AzureML-TensorFlow-2.3-GPU" not in log  # the curated note is the notebook's, not the task's
    assert commandstep_notebook["reused"] is True


def test_a_command_step_reads_a_pipeline_data_and_writes_one_a_later_step_reads(commandstep_notebook):
    assert "TRAINED epochs=2 data=42 rows" in commandstep_notebook["data_log"]
    assert "REPORT trained 2 epochs on 42 rows" in commandstep_notebook["report_log"]


def test_the_original_two_node_mpi_config_is_refused_with_what_to_do(airflow_stack, tmp_path_factory):
    files = {"commandstep_train/train.py": TRAIN, **HELPERS}
    result = run_notebook_text(airflow_stack, tmp_path_factory.mktemp("commandstep_mpi"), notebook(2), files)
    error = result["error"]
    assert "step 'train-mnist', field 'runconfig (its distributed_job_config)'" in error, error
    assert "distributed training" in error and "node_count=2" in error
    assert "drop distributed_job_config" in error and "ParallelRunStep" in error and "DatabricksStep" in error


DOCKER_DAG = """
import os

from amlflow.core import Datastore, Workspace
from amlflow.core.compute import ComputeTarget, DockerCompute
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import CommandStep

ws = Workspace()
store = Datastore(ws, "workspaceblobstore")
docker = ComputeTarget.attach(ws, "docker-cpu", DockerCompute.attach_configuration(max_nodes=2))
model = PipelineData("model", store)
scripts = os.path.join(os.path.dirname(__file__), "commandstep_docker")
step = CommandStep(["python write.py --epochs 3 --model", model], name="in-container", outputs=[model],
                   compute_target=docker, source_directory=scripts, allow_reuse=False)
Pipeline(ws, [step]).as_dag("commandstep_docker", default_args={"retries": 0})
"""

WRITE = """
import argparse, os, sys
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--model")
args = parser.parse_args()
os.makedirs(args.model, exist_ok=True)
with open(os.path.join(args.model, "model.txt"), "w") as handle:
    handle.write(f"{args.epochs} epochs with {sys.executable}")
"""


def test_a_command_step_on_docker_compute_runs_its_command_in_a_container(docker_engine, dags_folder):

    os.makedirs(os.path.join(DAGS, "commandstep_docker"), exist_ok=True)
    with open(os.path.join(DAGS, "commandstep_docker", "write.py"), "w") as handle:
        handle.write(WRITE)
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("commandstep_docker/\n")
    dag_file = os.path.join(DAGS, "commandstep_docker.py")
    with open(dag_file, "w") as handle:
        handle.write(DOCKER_DAG)
    client = docker_engine.client()
    run = run_dag(dag_file, "commandstep_docker")
    assert task_states(run) == {"in-container": "success"}
    with open(os.path.join(local_output(output_location(run, "in-container", "model")), "model.txt")) as handle:
        written = handle.read()
    # ``python`` in a container is the image's, not the worker's.
    assert written.startswith("3 epochs with /") and sys.executable not in written, written
    assert client.containers(all=True, filters={"label": "amlflow.task_id=in-container"}) == []
