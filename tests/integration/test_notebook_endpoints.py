"""Microsoft's ``aml-pipelines-setup-versioned-pipeline-endpoints`` and ``aml-pipelines-how-to-use-pipeline-drafts``
notebooks, imports renamed, on the session stack.

Each notebook's code, cell by cell, as one script in its own process. Changes, marked "test": the
pipeline declares the parameters "1" and "2" that the notebook's REST cell assigns (amlflow refuses a
parameter a pipeline lacks: README, differences); the notebooks' ``publish_run_train/train.py`` is a
script of ours that prints what it was given; the lines that report to the test print a RESULT line.
"""

from __future__ import annotations

import pytest

from tests.integration.test_notebook_submit import run_notebook_text

pytestmark = pytest.mark.integration

TRAIN = """
import sys

print("training with", sys.argv[1:])
"""

COMPUTE = """
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.core.compute_target import ComputeTargetException

aml_compute_target = "cpu-cluster"
try:
    aml_compute = AmlCompute(ws, aml_compute_target)
    print("Found existing compute target: {}".format(aml_compute_target))
except ComputeTargetException:
    print("Creating new compute target: {}".format(aml_compute_target))

    provisioning_config = AmlCompute.provisioning_configuration(vm_size = "STANDARD_D2_V2",
                                                                min_nodes = 1,
                                                                max_nodes = 4)
    aml_compute = ComputeTarget.create(ws, aml_compute_target, provisioning_config)
    aml_compute.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)
"""

VERSIONED_ENDPOINTS = (
    """
import json
from amlflow.core import Workspace

ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep = '\\n')
"""
    + COMPUTE
    + """
from amlflow.pipeline.steps import PythonScriptStep
from amlflow.pipeline.core import Pipeline, PipelineParameter

# source_directory
source_directory = 'publish_run_train'
# define a single step pipeline for demonstration purpose.
trainStep = PythonScriptStep(
    name="Training_Step",
    script_name="train.py",
    arguments=[PipelineParameter("1", "one"), PipelineParameter("2", "two")],  # test
    compute_target=aml_compute_target,
    source_directory=source_directory
)
print("TrainStep created")
# build and validate Pipeline
pipeline = Pipeline(workspace=ws, steps=[trainStep])
print("Pipeline is built")

from datetime import datetime

timenow = datetime.now().strftime('%m-%d-%Y-%H-%M')

pipeline_name = timenow + "-Pipeline"
print(pipeline_name)

published_pipeline = pipeline.publish(
    name=pipeline_name,
    description=pipeline_name)
print("Newly published pipeline id: {}".format(published_pipeline.id))

from amlflow.pipeline.core import PipelineEndpoint

pipeline_endpoint = PipelineEndpoint.publish(workspace=ws, name="PipelineEndpointTest",
                                            pipeline=pipeline, description="Test description Notebook")
pipeline_endpoint

pipeline_endpoint_by_name = PipelineEndpoint.get(workspace=ws, name="PipelineEndpointTest")
pipeline_endpoint_by_name

#get the PipelineEndpoint Id
pipeline_endpoint_by_name = PipelineEndpoint.get(workspace=ws, name="PipelineEndpointTest")
endpoint_id = pipeline_endpoint_by_name.id

pipeline_endpoint_by_id = PipelineEndpoint.get(workspace=ws, id=endpoint_id)
pipeline_endpoint_by_id

endpoint_list = PipelineEndpoint.list(workspace=ws, active_only=True)
endpoint_list

default_version = pipeline_endpoint_by_name.get_default_version()
default_version

pipeline_endpoint_by_name.set_default_version("0")

pipeline = pipeline_endpoint_by_name.get_pipeline("0")
pipeline

pipeline = pipeline_endpoint_by_name.get_pipeline()
pipeline

pipeline_endpoint_by_name.add(published_pipeline)

# Set Published Pipeline to PipelineEndpoint, if exists
pipeline_endpoint_by_name.set_default(published_pipeline)

versions = pipeline_endpoint_by_name.list_versions()

for ve in versions:
    print(ve.version)
    print(ve.pipeline.id)

pipelines = pipeline_endpoint_by_name.list_pipelines(active_only=True)
pipelines

pipeline_endpoint_by_name.set_name(name="NewName")

pipeline_endpoint_by_name = PipelineEndpoint.get(workspace=ws, name="NewName")

# endpoint with id
rest_endpoint_id =  pipeline_endpoint_by_name.endpoint

# for default version pipeline
rest_endpoint_id_without_version_with_id = rest_endpoint_id

# for specific version pipeline just append version info
version="0"
rest_endpoint_id_with_version = rest_endpoint_id_without_version_with_id+"/"+ version
print(rest_endpoint_id_with_version)
pipeline_endpoint_by_name

# endpoint with name
rest_endpoint_name = rest_endpoint_id.split("Id", 1)[0] + "Name?name=" + pipeline_endpoint_by_name.name

# for default version pipeline
rest_endpoint_name_without_version = rest_endpoint_name

# for specific version pipeline just append version info
version="0"
rest_endpoint_name_with_version = rest_endpoint_name_without_version+"&pipelineVersion="+ version
print(rest_endpoint_name_with_version)

from amlflow.core.authentication import InteractiveLoginAuthentication
import requests

auth = InteractiveLoginAuthentication()
aad_token = auth.get_authentication_header()

#endpoint = pipeline_endpoint_by_name.url

print("You can perform HTTP POST on URL {} to trigger this pipeline".format(rest_endpoint_name_with_version))

# specify the param when running the pipeline
response = requests.post(rest_endpoint_name_with_version,
                         headers=aad_token,
                         json={"ExperimentName": "default_pipeline",
                               "RunSource": "SDK",
                               "ParameterAssignments": {"1": "united", "2":"city"}})

try:
    response.raise_for_status()
except Exception:
    raise Exception('Received bad response from the endpoint: {}\\n'
                    'Response Code: {}\\n'
                    'Headers: {}\\n'
                    'Content: {}'.format(rest_endpoint, response.status_code, response.headers, response.content))

run_id = response.json().get('Id')
print('Submitted pipeline run: ', run_id)

# submit pipeline with specific version
run_id = pipeline_endpoint_by_name.submit("NewName", pipeline_version="0")
print(run_id)
version_0_run = run_id  # test

# submit pipeline with default version
run_id = pipeline_endpoint_by_name.submit("NewName")
print(run_id)
default_run = run_id  # test

from amlflow.core import Experiment
pipeline_run = Experiment(ws, name="submit_endpoint_sample").submit(
    pipeline_endpoint_by_name, tags={'endpoint_tag': "1"}, pipeline_version="0")

# test: what the test checks
rest_run = response.json()["Id"]
for run in (version_0_run, default_run, pipeline_run):
    run.wait_for_completion(show_output=False)
print("RESULT " + json.dumps({
    "versions": [[ve.version, ve.pipeline.id] for ve in versions],
    "default_version": pipeline_endpoint_by_name.get_default_version(),
    "published": published_pipeline.id,
    "rest_run": [rest_run, response.json()["PipelineId"]],
    "version_0_run": [version_0_run.id, version_0_run.pipeline_id, version_0_run.get_status()],
    "default_run": [default_run.id, default_run.pipeline_id, default_run.get_status()],
    "experiment_run": [pipeline_run.id, pipeline_run.get_status(), pipeline_run.get_details()["tags"]],
    "names": [e.name for e in PipelineEndpoint.list(ws)],
    "rest_version_url": rest_endpoint_id_with_version,
}))
"""
)


@pytest.fixture(scope="module")
def versioned_endpoints(airflow_stack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("versioned_endpoints")
    return run_notebook_text(airflow_stack, folder, VERSIONED_ENDPOINTS, {"publish_run_train/train.py": TRAIN})


def test_an_endpoint_runs_its_default_version_and_the_one_asked_for(versioned_endpoints, airflow_stack):
    result = versioned_endpoints
    (zero, version_0_pipeline), (one, published) = result["versions"]
    assert (zero, one) == ("0", "1")
    assert published == result["published"] != version_0_pipeline
    assert result["default_version"] == "1"  # set_default(published_pipeline)
    _run_id, pipeline_id, state = result["version_0_run"]
    assert (pipeline_id, state) == (version_0_pipeline, "Finished")
    _run_id, pipeline_id, state = result["default_run"]
    assert (pipeline_id, state) == (published, "Finished")
    assert result["rest_run"][1] == version_0_pipeline  # by name, pipelineVersion=0
    assert result["experiment_run"][1:] == ["Finished", {"endpoint_tag": "1"}]
    assert "NewName" in result["names"] and "PipelineEndpointTest" not in result["names"]


def test_the_rest_call_by_name_gives_the_scripts_its_parameter_values(versioned_endpoints, airflow_stack):
    run_id, pipeline_id = versioned_endpoints["rest_run"]
    run = airflow_stack.wait_for_run(pipeline_id, run_id)
    assert run["state"] == "success"
    assert "training with ['united', 'city']" in airflow_stack.task_log(pipeline_id, run_id, "Training_Step")


def test_a_disabled_endpoint_or_an_unknown_version_is_refused_with_a_clear_4xx(versioned_endpoints, airflow_stack):
    url = versioned_endpoints["rest_version_url"]
    path = url[len(airflow_stack.url) :]
    endpoint_id = path.split("/Id/", 1)[1].split("/", 1)[0]
    body = {"ExperimentName": "refusals"}
    status, answer = airflow_stack.request("POST", path.rsplit("/", 1)[0] + "/7", body)
    assert status == 404 and "version 7 not found in pipeline endpoint 'NewName' (versions: 0, 1)" in str(answer)
    status, answer = airflow_stack.request(
        "POST", "/amlflow/pipelines/v1.0/PipelineRuns/PipelineEndpointSubmit/Id/nope", body
    )
    assert status == 404 and "pipeline endpoint 'nope' not found" in str(answer)
    patch = f"/amlflow/pipelines/v1.0/PipelineEndpoints/Id/{endpoint_id}"
    assert airflow_stack.request("PATCH", patch, {"Status": "Disabled"})[0] == 200
    try:
        status, answer = airflow_stack.request("POST", path, body)
        assert status == 400 and "pipeline endpoint 'NewName' is Disabled" in str(answer)
        status, answer = airflow_stack.request("PATCH", patch, {"DefaultVersion": "9"})
        assert status == 400 and "Cannot set version 9, does not exist" in str(answer)
    finally:
        assert airflow_stack.request("PATCH", patch, {"Status": "Active"})[0] == 200
    status, answer = airflow_stack.request("POST", path, body, user="viewer")
    assert status == 403, answer


DRAFTS = (
    """
import json
import amlflow.core
from amlflow.core import Workspace
from amlflow.widgets import RunDetails

# Check core SDK version number
print("SDK version:", amlflow.core.VERSION)

ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep = '\\n')
"""
    + COMPUTE
    + """
from amlflow.pipeline.core import Pipeline
from amlflow.pipeline.steps import PythonScriptStep

source_directory = "publish_run_train"

train_step = PythonScriptStep(
    name="Training_Step",
    script_name="train.py",
    compute_target=aml_compute_target,
    source_directory=source_directory)
print("train step created")

pipeline = Pipeline(workspace=ws, steps=[train_step])
print ("Pipeline is built")

from amlflow.pipeline.core import PipelineDraft

pipeline_draft = PipelineDraft.create(ws, name="TestPipelineDraft",
                                      description="draft description",
                                      experiment_name="pipeline_draft_sample",
                                      pipeline=pipeline,
                                      continue_on_step_failure=True,
                                      tags={'dev': 'true'},
                                      properties={'train': 'value'})

created_pipeline_draft_id = pipeline_draft.id

pipeline_drafts = PipelineDraft.list(ws, tags={'dev': 'true'})

for pipeline_draft in pipeline_drafts:
    print(pipeline_draft)

pipeline_draft = PipelineDraft.get(ws, id=created_pipeline_draft_id)

new_train_step = PythonScriptStep(
    name="New_Training_Step",
    script_name="train.py",
    compute_target=aml_compute_target,
    source_directory=source_directory)

new_pipeline = Pipeline(workspace=ws, steps=[new_train_step])

pipeline_draft.update(name="UpdatedPipelineDraft", description="has updated train step", pipeline=new_pipeline)

pipeline_run = pipeline_draft.submit_run()
pipeline_run

published_pipeline = pipeline_draft.publish()
published_pipeline

# test: what the test checks
pipeline_run.wait_for_completion(show_output=False)
clone = PipelineDraft.create(ws, pipeline=pipeline_draft)
print("RESULT " + json.dumps({
    "listed": [d.id for d in pipeline_drafts],
    "draft": [pipeline_draft.id, pipeline_draft.name, pipeline_draft.last_submitted_pipeline_run_id],
    "run": [pipeline_run.id, pipeline_run.get_status(), [s.name for s in pipeline_run.get_steps()]],
    "published": [published_pipeline.id, published_pipeline.name, published_pipeline.get_step_names()],
    "clone": [clone.id, clone.name, clone.parent_pipeline_draft_id],
    "drafts": sorted(d.name for d in PipelineDraft.list(ws)),
}))
clone.delete()
"""
)


def test_a_draft_is_updated_submitted_and_published_and_never_a_dag(airflow_stack, tmp_path):
    result = run_notebook_text(airflow_stack, tmp_path, DRAFTS, {"publish_run_train/train.py": TRAIN})
    draft_id, name, last_run = result["draft"]
    assert result["listed"] == [draft_id]
    assert name == "UpdatedPipelineDraft"
    run_id, state, steps = result["run"]
    assert (last_run, state, steps) == (run_id, "Finished", ["New_Training_Step"])
    published_id, published_name, step_names = result["published"]
    assert (published_name, step_names) == ("UpdatedPipelineDraft", ["New_Training_Step"])
    status, pipeline = airflow_stack.request("GET", f"/amlflow/pipelines/v1.0/PublishedPipelines/{published_id}")
    assert status == 200 and pipeline["Status"] == "Active"
    clone_id, clone_name, parent = result["clone"]
    assert (clone_name, parent) == ("UpdatedPipelineDraft", draft_id) and clone_id != draft_id
    assert airflow_stack.request("GET", f"/amlflow/pipelines/v1.0/PipelineDrafts/{clone_id}")[0] == 404  # deleted
    assert airflow_stack.request("GET", f"/amlflow/pipelines/v1.0/PipelineDrafts/{draft_id}")[0] == 200
    status, dags = airflow_stack.request("GET", "/api/v2/dags?limit=1000")
    assert status == 200 and not any(
        draft_id in d["dag_id"] or "TestPipelineDraft" in d["dag_id"] for d in dags["dags"]
    )
