"""Microsoft's ``aml-pipelines-showcasing-datapath-and-pipelineparameter`` notebook, imports renamed.

The notebook's own code, cell by cell, as one script in its own process, on the session's stack: a
``PipelineParameter`` whose default is a ``DataPath``, bound into a step as ``(parameter,
DataPathComputeBinding(mode='mount'))``, run three ways: with its default, with another DataPath given to
``submit(pipeline_parameters=...)``, and through the published pipeline's endpoint with
``DataPathAssignments``. Two additions, both marked ``# test``: the notebook's folders are empty on
Microsoft's side, here each holds a file naming it, which the script prints so the test sees what it read;
and the notebook's last cells (a ``Schedule`` on the datastore) are left to the schedules issue.
"""

from __future__ import annotations

import pytest

from tests.integration.test_notebook_submit import run_notebook_text

pytestmark = pytest.mark.integration

NOTEBOOK = """
import json, os  # test
import amlflow.core
from amlflow.core import Workspace, Experiment
from amlflow.core.compute import ComputeTarget, AmlCompute
from amlflow.data.datapath import DataPath, DataPathComputeBinding
from amlflow.widgets import RunDetails

from amlflow.pipeline.core import PipelineParameter
from amlflow.pipeline.core import Pipeline, PipelineRun
from amlflow.pipeline.steps import PythonScriptStep

print("SDK version:", amlflow.core.VERSION)
ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep = '\\n')

experiment_name = 'showcasing-datapath'
source_directory  = '.'
experiment = Experiment(ws, experiment_name)

amlcompute_cluster_name = "cpu-cluster"
found = False
cts = ws.compute_targets
if amlcompute_cluster_name in cts and cts[amlcompute_cluster_name].type == 'AmlCompute':
    found = True
    print('Found existing compute target.')
    compute_target = cts[amlcompute_cluster_name]
if not found:
    print('Creating a new compute target...')
    provisioning_config = AmlCompute.provisioning_configuration(vm_size = "STANDARD_D2_V2", max_nodes = 4)
    compute_target = ComputeTarget.create(ws, amlcompute_cluster_name, provisioning_config)
    compute_target.wait_for_completion(show_output = True, timeout_in_minutes = 10)

with open("train_with_datapath.py", "w") as script:  # the notebook's %%writefile
    script.write('''
import argparse
import os

parser = argparse.ArgumentParser("train")
parser.add_argument("--arg1", type=str, help="sample string argument")
parser.add_argument("--arg2", type=str, help="sample datapath argument")
args = parser.parse_args()

print("Sample string argument  : %s" % args.arg1)
print("Sample datapath argument: %s" % args.arg2)
with open(os.path.join(args.arg2, "name.txt")) as handle:  # test
    print("READ " + args.arg1 + " " + handle.read())
''')

def_blob_store = ws.get_default_datastore()
print("Default datastore's name: {}".format(def_blob_store.name))
for n in (1, 2, 3):  # test: the sample folders, each with a file naming it
    os.makedirs(f"samples/sample_datapath{n}", exist_ok=True)
    with open(f"samples/sample_datapath{n}/name.txt", "w") as handle:
        handle.write(f"sample_datapath{n}")
def_blob_store.upload("samples", overwrite=True, show_progress=False)  # test

data_path = DataPath(datastore=def_blob_store, path_on_datastore='sample_datapath1')
datapath1_pipeline_param = PipelineParameter(name="input_datapath", default_value=data_path)
datapath_input = (datapath1_pipeline_param, DataPathComputeBinding(mode='mount'))

string_pipeline_param = PipelineParameter(name="input_string", default_value='sample_string1')

train_step = PythonScriptStep(
    name='train_step',
    script_name="train_with_datapath.py",
    arguments=["--arg1", string_pipeline_param, "--arg2", datapath_input],
    inputs=[datapath_input],
    compute_target=compute_target,
    source_directory=source_directory)
print("train_step created")

pipeline = Pipeline(workspace=ws, steps=[train_step])
print("pipeline with the train_step created")

pipeline_run = experiment.submit(pipeline)
print("Pipeline is submitted for execution")
RunDetails(pipeline_run).show()
pipeline_run.wait_for_completion()

pipeline_run_with_params = experiment.submit(pipeline, \\
        pipeline_parameters={'input_datapath': DataPath(datastore=def_blob_store, path_on_datastore='sample_datapath2'),
                         'input_string': 'sample_string2'})
RunDetails(pipeline_run_with_params).show()
pipeline_run_with_params.wait_for_completion()

published_pipeline = pipeline.publish(name="DataPath_Pipeline", description="Pipeline to test Datapath",
                                      continue_on_step_failure=True)
published_pipeline

from amlflow.core.authentication import InteractiveLoginAuthentication
import requests

auth = InteractiveLoginAuthentication()
aad_token = auth.get_authentication_header()
rest_endpoint = published_pipeline.endpoint
print("You can perform HTTP POST on URL {} to trigger this pipeline".format(rest_endpoint))

response = requests.post(rest_endpoint,
                         headers=aad_token,
                         json={"ExperimentName": "MyRestPipeline",
                               "RunSource": "SDK",
                               "DataPathAssignments": {
                                   "input_datapath": {
                                       "DataStoreName": def_blob_store.name,
                                       "RelativePath": 'sample_datapath3'
                                   }
                               },
                               "ParameterAssignments": {"input_string": "sample_string3"}
                              }
                        )
try:
    response.raise_for_status()
except Exception:
    raise Exception('Received bad response from the endpoint: {}\\n'
                    'Response Code: {}\\n'
                    'Headers: {}\\n'
                    'Content: {}'.format(rest_endpoint, response.status_code, response.headers, response.content))

run_id = response.json().get('Id')
print('Submitted pipeline run: ', run_id)
published_pipeline_run_via_rest = PipelineRun(ws.experiments["MyRestPipeline"], run_id)
RunDetails(published_pipeline_run_via_rest).show()
published_pipeline_run_via_rest.wait_for_completion()

runs = [pipeline_run, pipeline_run_with_params, published_pipeline_run_via_rest]  # test
logs = [run.find_step_run("train_step")[0].get_job_log() for run in runs]
print("RESULT " + json.dumps({"status": [run.get_status() for run in runs], "logs": logs}))
"""


@pytest.fixture(scope="module")
def datapath_notebook(airflow_stack, tmp_path_factory):
    return run_notebook_text(airflow_stack, tmp_path_factory.mktemp("datapath_notebook"), NOTEBOOK)


def test_each_run_reads_the_folder_its_datapath_parameter_names(datapath_notebook):
    assert datapath_notebook["status"] == ["Finished"] * 3
    default, submitted, rest = datapath_notebook["logs"]
    assert "READ sample_string1 sample_datapath1" in default
    assert "READ sample_string2 sample_datapath2" in submitted
    assert "READ sample_string3 sample_datapath3" in rest


def test_the_script_gets_a_mounted_folder_as_its_argument(datapath_notebook):
    log = datapath_notebook["logs"][0]
    argument = log.split("Sample datapath argument: ", 1)[1].split()[0]
    assert argument.endswith("sample_datapath1"), log
