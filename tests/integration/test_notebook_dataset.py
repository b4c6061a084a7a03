"""Microsoft's ``aml-pipelines-showcasing-dataset-and-pipelineparameter`` notebook, imports renamed.

The notebook's own code, cell by cell, as one script in its own process, on the session's stack: a File
and a Tabular dataset made from URLs, each the default of a ``PipelineParameter`` read through a
``DatasetConsumptionConfig`` (the file one mounted, the tabular one direct), run with its defaults, with
other datasets given to ``submit(pipeline_parameters=...)``, through ``published_pipeline.submit`` and
through the endpoint with ``DataSetDefinitionValueAssignments``. One change, of data: the URLs are those
of a local HTTP server holding small files of the same names (``tests.fixtures.web_files``).
"""

from __future__ import annotations

import pytest

from tests.integration.test_notebook_submit import run_notebook_text

pytestmark = pytest.mark.integration

NOTEBOOK = """
import json  # test
import amlflow.core
from amlflow.core import Workspace, Experiment, Dataset, RunConfiguration
from amlflow.core.compute import ComputeTarget, AmlCompute
from amlflow.core.environment import CondaDependencies
from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
from amlflow.widgets import RunDetails

from amlflow.pipeline.core import PipelineParameter
from amlflow.pipeline.core import Pipeline, PipelineRun
from amlflow.pipeline.steps import PythonScriptStep

BASE = "{base}"  # test: where the notebook's URLs point

print("SDK version:", amlflow.core.VERSION)
ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep = '\\n')

experiment_name = 'showcasing-dataset'
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

file_dataset = Dataset.File.from_files(BASE + '/demo/Titanic.csv')
file_pipeline_param = PipelineParameter(name="file_ds_param", default_value=file_dataset)
file_ds_consumption = DatasetConsumptionConfig("file_dataset", file_pipeline_param).as_mount()

tabular_dataset = Dataset.Tabular.from_delimited_files(BASE + '/demo/Titanic.csv')
tabular_pipeline_param = PipelineParameter(name="tabular_ds_param", default_value=tabular_dataset)
tabular_ds_consumption = DatasetConsumptionConfig("tabular_dataset", tabular_pipeline_param)

with open("train_with_dataset.py", "w") as script:  # the notebook's %%writefile
    script.write('''
from amlflow.core import Run

input_file_ds_path = Run.get_context().input_datasets['file_dataset']
with open(input_file_ds_path, 'r') as f:
    content = f.read()
    print(content)

input_tabular_ds = Run.get_context().input_datasets['tabular_dataset']
tabular_df = input_tabular_ds.to_pandas_dataframe()
print(tabular_df)
print("COLUMNS " + ",".join(tabular_df.columns) + " ROWS " + str(len(tabular_df)))  # test
''')

conda_dep = CondaDependencies()
conda_dep.add_pip_package("pandas")
run_config = RunConfiguration(conda_dependencies=conda_dep)

train_step = PythonScriptStep(
    name="train_step",
    script_name="train_with_dataset.py",
    arguments=["--param1", file_ds_consumption, "--param2", tabular_ds_consumption],
    inputs=[file_ds_consumption, tabular_ds_consumption],
    compute_target=compute_target,
    source_directory=source_directory,
    runconfig=run_config)
print("train_step created")

pipeline = Pipeline(workspace=ws, steps=[train_step])
print("pipeline with the train_step created")

pipeline_run = experiment.submit(pipeline)
print("Pipeline is submitted for execution")
RunDetails(pipeline_run).show()
pipeline_run.wait_for_completion()

iris_file_ds = Dataset.File.from_files(BASE + '/how-to-use-azureml/work-with-data/'
                                        'datasets-tutorial/train-with-datasets/train-dataset/iris.csv')
iris_tabular_ds = Dataset.Tabular.from_delimited_files(BASE + '/how-to-use-azureml/work-with-data/'
                                                       'datasets-tutorial/train-with-datasets/train-dataset/iris.csv')

pipeline_run_with_params = experiment.submit(pipeline, pipeline_parameters={{'file_ds_param': iris_file_ds,
                                                                            'tabular_ds_param': iris_tabular_ds}})
RunDetails(pipeline_run_with_params).show()
pipeline_run_with_params.wait_for_completion()

published_pipeline = pipeline.publish(name="Dataset_Pipeline",
                                      description="Pipeline to test Dataset PipelineParameter",
                                      continue_on_step_failure=True)
published_pipeline

published_run = published_pipeline.submit(ws, experiment_name="publishedexperiment",
                                           pipeline_parameters={{'file_ds_param': iris_file_ds,
                                                                 'tabular_ds_param': iris_tabular_ds}})
published_run.wait_for_completion()  # test

from amlflow.core.authentication import InteractiveLoginAuthentication
import requests

auth = InteractiveLoginAuthentication()
aad_token = auth.get_authentication_header()
rest_endpoint = published_pipeline.endpoint
print("You can perform HTTP POST on URL {{}} to trigger this pipeline".format(rest_endpoint))

response = requests.post(rest_endpoint,
                         headers=aad_token,
                         json={{"ExperimentName": "MyRestPipeline",
                               "RunSource": "SDK",
                               "DataSetDefinitionValueAssignments": {{
                                   "file_ds_param": {{"SavedDataSetReference": {{"Id": iris_file_ds.id}}}},
                                   "tabular_ds_param": {{"SavedDataSetReference": {{"Id": iris_tabular_ds.id}}}}}}
                              }}
                        )
try:
    response.raise_for_status()
except Exception:
    raise Exception('Received bad response from the endpoint: {{}}\\n'
                    'Response Code: {{}}\\n'
                    'Headers: {{}}\\n'
                    'Content: {{}}'.format(rest_endpoint, response.status_code, response.headers, response.content))

run_id = response.json().get('Id')
print('Submitted pipeline run: ', run_id)
published_pipeline_run_via_rest = PipelineRun(ws.experiments["MyRestPipeline"], run_id)
RunDetails(published_pipeline_run_via_rest).show()
published_pipeline_run_via_rest.wait_for_completion()

runs = [pipeline_run, pipeline_run_with_params, published_run, published_pipeline_run_via_rest]  # test
wrong = requests.post(rest_endpoint, headers=aad_token, json={{"ExperimentName": "MyRestPipeline",  # test
    "DataSetDefinitionValueAssignments": {{
        "file_ds_param": {{"SavedDataSetReference": {{"Id": iris_tabular_ds.id}}}}}}}})
unknown = requests.post(rest_endpoint, headers=aad_token, json={{"ExperimentName": "MyRestPipeline",  # test
    "DataSetDefinitionValueAssignments": {{
        "tabular_ds_param": {{"DataSetReference": {{"Name": "no_such_dataset"}}}}}}}})
team_b = {{"type": "File", "sources": [{{"datastore": "team_b", "path": "secrets"}}], "transforms": []}}  # test
saved = requests.post(published_pipeline.endpoint.split("/pipelines/")[0] + "/dataset/v1.0/saved", headers=aad_token,
                      json={{"definition": team_b}}).json()["id"]
other_team = requests.post(rest_endpoint, headers=aad_token, json={{"ExperimentName": "MyRestPipeline",  # test
    "DataSetDefinitionValueAssignments": {{"file_ds_param": {{"SavedDataSetReference": {{"Id": saved}}}}}}}})
print("RESULT " + json.dumps({{
    "status": [run.get_status() for run in runs],
    "logs": [run.find_step_run("train_step")[0].get_job_log() for run in runs],
    "ids": [iris_file_ds.id, iris_tabular_ds.id, file_dataset.id], "run_ids": [run.id for run in runs],
    "wrong": [wrong.status_code, wrong.text], "unknown": [unknown.status_code, unknown.text],
    "other_team": [other_team.status_code, other_team.text]}}))
"""


@pytest.fixture(scope="module")
def dataset_notebook(airflow_stack, web_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dataset_notebook")
    return run_notebook_text(airflow_stack, folder, NOTEBOOK.format(base=web_files))


def test_each_run_reads_the_datasets_its_parameters_were_given(dataset_notebook):
    assert dataset_notebook["status"] == ["Finished"] * 4
    default, given, published, rest = dataset_notebook["logs"]
    assert "Braund" in default and "COLUMNS PassengerId,Survived,Name ROWS 3" in default
    assert "Iris-versicolor" in given and "COLUMNS sepal_length,sepal_width,species ROWS 2" in given
    # Given the same datasets again (published_pipeline.submit, the endpoint), the step is the one that read
    # them: its fingerprint covers the datasets a run reads, so it reuses that run and not the default's.
    iris_run = dataset_notebook["run_ids"][1]
    for log in (published, rest):
        assert f"Reusing the outputs of step 'train_step' of run {iris_run!r}" in log


def test_datasets_given_to_a_run_are_saved_and_those_never_given_are_not(dataset_notebook):
    file_id, tabular_id, default_id = dataset_notebook["ids"]
    assert file_id and tabular_id and file_id != tabular_id
    assert default_id is None  # as in Azure ML: a dataset is saved when a run is given it


def test_the_endpoint_refuses_a_dataset_of_the_wrong_kind_or_an_unknown_name(dataset_notebook):
    status, text = dataset_notebook["wrong"]
    assert status == 400 and "DataSetDefinitionValueAssignments.file_ds_param" in text
    assert "Tabular dataset can not be given to 'file_ds_param'" in text
    status, text = dataset_notebook["unknown"]
    assert status == 400 and "DataSetDefinitionValueAssignments.tabular_ds_param" in text and "no_such_dataset" in text


def test_the_endpoint_refuses_a_saved_dataset_on_a_datastore_the_pipeline_does_not_use(dataset_notebook):
    status, text = dataset_notebook["other_team"]
    assert status == 400 and "DataSetDefinitionValueAssignments.file_ds_param" in text
    assert "reads datastore 'team_b'" in text
