"""Microsoft's ``aml-pipelines-publish-and-run-using-rest-endpoint`` notebook, imports renamed.

The notebook's own code, cell by cell, as one script in its own process, on the session's stack: a File
dataset from a URL mounted by the first step, three ``OutputFileDatasetConfig`` outputs passed on with
``.as_input()``, the last one registered with ``register_on_complete``, a pipeline built from its last step
only, published, submitted, republished from the run and triggered through its endpoint. Changes, all of
data or marked ``# test``: the URL is that of a local HTTP server (``tests.fixtures.web_files``); the
notebook's three scripts are small equivalents written here; after the runs the notebook reads back what
they registered.
"""

from __future__ import annotations

import pytest

from tests.integration.test_notebook_submit import run_notebook_text

pytestmark = pytest.mark.integration

#: The notebook's step scripts, as small equivalents: each copies its input on, the last writes a result.
SCRIPTS = {
    "publish_run_train/train.py": """
        import argparse, os, shutil
        parser = argparse.ArgumentParser("train")
        parser.add_argument("--input_data", type=str)
        parser.add_argument("--output_train", type=str)
        args = parser.parse_args()
        print("Argument 1: %s" % args.input_data)
        os.makedirs(args.output_train, exist_ok=True)
        shutil.copy(args.input_data, os.path.join(args.output_train, "Titanic.csv"))
    """,
    "publish_run_extract/extract.py": """
        import argparse, os, shutil
        parser = argparse.ArgumentParser("extract")
        parser.add_argument("--input_extract", type=str)
        parser.add_argument("--output_extract", type=str)
        args = parser.parse_args()
        os.makedirs(args.output_extract, exist_ok=True)
        shutil.copy(os.path.join(args.input_extract, "Titanic.csv"), os.path.join(args.output_extract, "Titanic.csv"))
    """,
    "publish_run_compare/compare.py": """
        import argparse, os
        parser = argparse.ArgumentParser("compare")
        parser.add_argument("--compare_data1", type=str)
        parser.add_argument("--compare_data2", type=str)
        parser.add_argument("--output_compare", type=str)
        parser.add_argument("--pipeline_param", type=int)
        args = parser.parse_args()
        folders = (args.compare_data1, args.compare_data2)
        rows = [len(open(os.path.join(d, "Titanic.csv")).read().splitlines()) for d in folders]
        os.makedirs(args.output_compare, exist_ok=True)
        with open(os.path.join(args.output_compare, "compare.txt"), "w") as fw:
            fw.write(f"here is the compare result: rows {rows}, pipeline_param {args.pipeline_param}")
    """,
}

NOTEBOOK = """
import json, os  # test
import amlflow.core
from amlflow.core import Workspace, Datastore, Experiment, Dataset
from amlflow.data import OutputFileDatasetConfig
from amlflow.core.compute import AmlCompute
from amlflow.core.compute import ComputeTarget

print("SDK version:", amlflow.core.VERSION)

from amlflow.pipeline.core import Pipeline
from amlflow.pipeline.steps import PythonScriptStep
from amlflow.pipeline.core.graph import PipelineParameter

print("Pipeline SDK-specific imports completed")

ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep = '\\n')
def_blob_store = Datastore(ws, "workspaceblobstore")
print("Blobstore's name: {{}}".format(def_blob_store.name))

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

data_path = "{base}/demo/Titanic.csv"
blob_input_data = Dataset.File.from_files(data_path).as_named_input("test_data")
print("Dataset created")

processed_data1 = OutputFileDatasetConfig(name="processed_data1")
print("Output dataset object created")

source_directory = "publish_run_train"
trainStep = PythonScriptStep(
    script_name="train.py",
        arguments=["--input_data", blob_input_data.as_mount(), "--output_train", processed_data1],
    compute_target=aml_compute,
    source_directory=source_directory
)
print("trainStep created")

processed_data2 = OutputFileDatasetConfig(name="processed_data2")
source_directory = "publish_run_extract"
extractStep = PythonScriptStep(
    script_name="extract.py",
    arguments=["--input_extract", processed_data1.as_input(), "--output_extract", processed_data2],
    compute_target=aml_compute,
    source_directory=source_directory)
print("extractStep created")

pipeline_param = PipelineParameter(name="pipeline_arg", default_value=10)
print("pipeline parameter created")

processed_data3 = OutputFileDatasetConfig(name="processed_data3")
processed_data3 = processed_data3.register_on_complete("compare_result")
source_directory = "publish_run_compare"
compareStep = PythonScriptStep(
    script_name="compare.py",
    arguments=["--compare_data1", processed_data1.as_input(), "--compare_data2", processed_data2.as_input(),
               "--output_compare", processed_data3, "--pipeline_param", pipeline_param],
    compute_target=aml_compute,
    source_directory=source_directory)
print("compareStep created")

pipeline1 = Pipeline(workspace=ws, steps=[compareStep])
print ("Pipeline is built")

published_pipeline1 = pipeline1.publish(name="My_New_Pipeline", description="My Published Pipeline Description",
                                        continue_on_step_failure=True)
published_pipeline1

pipeline_run1 = Experiment(ws, 'Pipeline_experiment_sample').submit(pipeline1)
published_pipeline2 = pipeline_run1.publish_pipeline(name="My_New_Pipeline2",
                                                     description="My Published Pipeline Description", version="0.1",
                                                     continue_on_step_failure=True)
published_pipeline2

from amlflow.pipeline.core import PublishedPipeline

pipeline_id = published_pipeline1.id
published_pipeline = PublishedPipeline.get(ws, pipeline_id)
published_pipeline

from amlflow.core.authentication import InteractiveLoginAuthentication
import requests

auth = InteractiveLoginAuthentication()
aad_token = auth.get_authentication_header()
rest_endpoint1 = published_pipeline.endpoint
print("You can perform HTTP POST on URL {{}} to trigger this pipeline".format(rest_endpoint1))

pipeline_run1.wait_for_completion()  # test: the first version is the submitted run's
response = requests.post(rest_endpoint1,
                         headers=aad_token,
                         json={{"ExperimentName": "My_Pipeline1",
                               "RunSource": "SDK",
                               "ParameterAssignments": {{"pipeline_arg": 45}}}})
try:
    response.raise_for_status()
except Exception as ex:
    raise Exception('Received bad response from the endpoint: {{}}\\n'
                    'Response Code: {{}}\\n'
                    'Headers: {{}}\\n'
                    'Content: {{}}'.format(rest_endpoint1, response.status_code, response.headers,
                                       response.content)) from ex

run_id = response.json().get('Id')
print('Submitted pipeline run: ', run_id)

from amlflow.pipeline.core import PipelineRun  # test: what the runs registered
rest_run = PipelineRun(ws.experiments["My_Pipeline1"], run_id)
rest_run.wait_for_completion()
versions = {{}}
for version in (1, 2):
    registered = Dataset.get_by_name(ws, "compare_result", version=version)
    [path] = registered.download(f"versions/{{version}}", overwrite=True)
    versions[version] = [os.path.basename(path), open(path).read()]
print("RESULT " + json.dumps({{"status": [pipeline_run1.get_status(), rest_run.get_status()], "versions": versions,
                              "latest": Dataset.get_by_name(ws, "compare_result").version,
                              "train_log": pipeline_run1.find_step_run("train.py")[0].get_job_log()}}))
"""


@pytest.fixture(scope="module")
def output_datasets_notebook(airflow_stack, web_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("output_datasets_notebook")
    return run_notebook_text(airflow_stack, folder, NOTEBOOK.format(base=web_files), SCRIPTS)


def test_the_pipeline_of_its_last_step_runs_all_three_steps_through_output_datasets(output_datasets_notebook):
    assert output_datasets_notebook["status"] == ["Finished", "Finished"]
    first, _ = output_datasets_notebook["versions"]["1"]
    assert first == "compare.txt"
    # Both inputs reached the compare step through the outputs of the two steps before it.
    assert "rows [4, 4], pipeline_param 10" in output_datasets_notebook["versions"]["1"][1]


def test_each_run_registers_a_new_version_of_its_output_dataset(output_datasets_notebook):
    assert output_datasets_notebook["latest"] == 2
    assert "pipeline_param 45" in output_datasets_notebook["versions"]["2"][1]


def test_the_mounted_file_dataset_is_the_file_itself(output_datasets_notebook):
    argument = output_datasets_notebook["train_log"].split("Argument 1: ", 1)[1].split()[0]
    assert argument.endswith("Titanic.csv")
